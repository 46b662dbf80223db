"""Errors the CLI reports as one line (exit status 1), without a traceback."""


class UserError(Exception):
    """Bad input from the user: the message names the file, row, field or option, and the fix."""


class BudgetExceeded(UserError):
    """The configured token or cost budget was reached; the partial output is consistent."""


class EmptyDataset(UserError):
    """The run kept no sample: the message names the funnel's largest drop."""


class PipelineFailed(UserError):
    """A pipeline step failed so that not every seed reached assembly; the step's own error was
    logged by distilabel. The message says so in one line."""
