"""project_template: a two-rung ladder made by `uvx nox -s new-project`; grow it from here."""
