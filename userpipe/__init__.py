"""userpipe's command line (``cli``), the local stack (``local``), the operator commands
(``ops``), the AWS reading both of those share (``aws``) and the demo. Sits on top: imports
services and contracts; neither imports it."""
