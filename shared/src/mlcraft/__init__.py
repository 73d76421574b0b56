"""mlcraft: the shared utilities of the portfolio.

Modules that need torch (`seeding`'s torch parts, `profiling`'s torch parts, `lightning_callbacks`)
import it lazily or live in their own module, so `import mlcraft` and the numpy-only modules work
in the torch-free tabular project.
"""

from mlcraft.errors import UserInputError

__all__ = ["UserInputError"]
__version__ = "0.1.0"
