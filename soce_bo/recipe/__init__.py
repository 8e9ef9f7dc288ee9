"""The SoCE recipe: config -> candidates -> analysis -> search -> report split -> final soup.

`SoceRecipe(cfg).run()` is what `python -m soce_bo.run` does; each step is a method, in order.
`RunResults` is the typed results.json both the recipe and `soce_bo.report` use.
"""

from soce_bo.recipe.results import SCHEMA_VERSION, RunResults, SoupRow

__all__ = ["SCHEMA_VERSION", "RunResults", "SoupRow"]
