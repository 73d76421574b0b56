import pytest
from mlcraft.carriers import CarrierFile, locate
from mlcraft.config import StrictModel, flatten, load_config
from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_json, sha256_file


class Model(StrictModel):
    name: str = "logreg"
    C: float = 1.0


class Config(StrictModel):
    seed: int = 0
    model: Model = Model()


def test_config_loads_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\nmodel:\n  C: 0.5\n")
    cfg = load_config(path, Config, ["model.name=svm", "seed=9"])
    assert (cfg.seed, cfg.model.name, cfg.model.C) == (9, "svm", 0.5)
    assert flatten(cfg.model_dump()) == {"seed": 9, "model.name": "svm", "model.C": 0.5}


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        ("seed: 1\nmodle: {}\n", [], "unknown config key 'modle'"),
        ("model:\n  C: lots\n", [], "bad value for 'model.C'"),
        ("seed: 1\n", ["model.depth=3"], "unknown config key 'model.depth'"),
        ("seed: 1\n", ["seed"], "key=value"),
        ("- a\n- b\n", [], "mapping"),
    ],
)
def test_config_errors_name_the_key(tmp_path, text, overrides, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(UserInputError, match=message):
        load_config(path, Config, overrides)


def test_missing_config_file(tmp_path):
    with pytest.raises(UserInputError, match="config file not found"):
        load_config(tmp_path / "nope.yaml", Config)


def test_atomic_json(tmp_path):
    atomic_write_json(tmp_path / "a" / "s.json", {"x": 1})
    assert (tmp_path / "a" / "s.json").read_text() == '{\n  "x": 1\n}\n'


def test_carrier_files_are_located_and_hash_checked():
    import importlib.metadata as md

    dist = md.distribution("pytest")
    record = next(f for f in dist.files if str(f) == "pytest/__init__.py")
    path = dist.locate_file(record)
    good = CarrierFile("pytest", dist.version, str(record), sha256_file(path))
    assert locate(good) == path
    bad = CarrierFile("pytest", dist.version, str(record).replace("__init__", "__main__"), "0" * 64)
    with pytest.raises(UserInputError, match="sha256 mismatch"):
        locate(bad)
    with pytest.raises(UserInputError, match="not installed"):
        locate(CarrierFile("no-such-carrier", "1.0", "x", None))
    with pytest.raises(UserInputError, match="missing from pytest"):
        locate(CarrierFile("pytest", dist.version, "pytest/nope.bin", None))


def test_mlcraft_core_imports_without_torch():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"  # any torch import now fails
        "import mlcraft, mlcraft.seeding, mlcraft.calibration, mlcraft.reporting, mlcraft.search,"
        " mlcraft.tracking, mlcraft.profiling, mlcraft.config, mlcraft.carriers\n"
        "mlcraft.seeding.seed_everything(1)\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_set_keeps_text_fields_as_typed_and_parses_the_rest_as_yaml(tmp_path):
    from mlcraft.config import StrictModel, load_config
    from pydantic import Field

    class Data(StrictModel):
        positive_label: str | None = None
        na_values: list[str] = Field(default_factory=list)
        rows: int = 10

    class Config(StrictModel):
        data: Data = Field(default_factory=Data)
        flag: bool = False

    path = tmp_path / "c.yaml"
    path.write_text("flag: false\n")
    config = load_config(path, Config, [
        "data.positive_label=yes", "data.na_values=[?, NA, yes]", "data.rows=20", "flag=yes",
    ])  # fmt: skip
    assert config.data.positive_label == "yes" and config.data.na_values == ["?", "NA", "yes"]
    assert config.data.rows == 20 and config.flag is True
    assert load_config(path, Config, ["data.positive_label=null"]).data.positive_label is None
    assert load_config(path, Config, ["data.positive_label='1'"]).data.positive_label == "1"
