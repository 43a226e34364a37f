"""The recipe app to adopt: what an Amplify Gen 1 app whose post-confirmation trigger writes the
User table deploys, provisioned on a running local stack (``tests.recipe.app``), and that
trigger (``tests.recipe.post_confirmation``). Kept import-free: the trigger's sandbox imports
this package on its cold start."""
