class ActionRefused(Exception):
    """An action the rules do not allow; the message explains the rule to whoever asked, customer or staff."""
