"""userpipe's command line and local stack. Sits on top: imports services and contracts."""
