"""One error type for bad input, so every CLI can print it as a single line."""


class UserInputError(ValueError):
    """Bad input from the user (config, data file, column, model dir): the message names the problem."""
