import sys

from userpipe.cli import main

sys.exit(main())
