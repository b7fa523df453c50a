"""The names one problem's tables take in the warehouse."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Tables:
    """Where one problem's rows live. A project of one problem (`problem` empty) has the names
    below; in a deployment of several problems each keeps its labels, results and production
    tables apart under its own name (`results.eis_models`), while what the problems share (a
    cohort and features defined alike, named in `shared`) keeps the plain name and is written once."""

    problem: str = ""
    shared: frozenset[str] = frozenset()  # "cohort" and feature prefixes

    def own(self, schema: str, name: str) -> str:
        return f"{schema}.{self.problem}_{name}" if self.problem else f"{schema}.{name}"

    @property
    def cohort(self) -> str:
        return "features.cohort" if "cohort" in self.shared else self.own("features", "cohort")

    @property
    def labels(self) -> str:
        return self.own("features", "labels")

    def feature(self, prefix: str) -> str:
        return f"features.{prefix}" if prefix in self.shared else self.own("features", prefix)

    @property
    def models(self) -> str:
        return self.own("results", "models")

    @property
    def evaluations(self) -> str:
        return self.own("results", "evaluations")

    def production(self, name: str) -> str:
        return self.own("production", name)
