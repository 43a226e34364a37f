"""The recipe's post-confirmation trigger (see ``handler``)."""
