"""Config JSON round trip (tfrec_pkg/config.py) on the real BaseModelConfig."""
import dataclasses
import json

import pytest

import tfrec_pkg  # noqa: F401
from tfrec_pkg.models import BaseModelConfig


def test_json_round_trip_restores_tuples():
    cfg = BaseModelConfig(max_history=7, attention_units=(12, 6, 3), mlp_units=(32,), dropout=0.1,
                          attention_normalize="softmax")
    text = cfg.to_json()
    raw = json.loads(text)
    assert raw["attention_units"] == [12, 6, 3]  # JSON has lists
    back = BaseModelConfig.from_json(text)
    assert back == cfg
    assert isinstance(back.attention_units, tuple) and back.attention_units == (12, 6, 3)
    assert isinstance(back.mlp_units, tuple) and back.mlp_units == (32,)


def test_default_round_trip_and_to_dict_covers_every_field():
    cfg = BaseModelConfig()
    d = cfg.to_dict()
    assert set(d) == {f.name for f in dataclasses.fields(BaseModelConfig)}
    assert BaseModelConfig.from_dict(d) == cfg
    assert BaseModelConfig.from_dict({}) == cfg  # missing keys take the paper defaults


def test_partial_dict_and_replace():
    cfg = BaseModelConfig.from_dict({"epochs": 2, "mlp_units": [8, 4]})
    assert cfg.epochs == 2 and cfg.mlp_units == (8, 4)
    assert cfg.max_history == BaseModelConfig().max_history
    other = cfg.replace(epochs=3)
    assert other.epochs == 3 and cfg.epochs == 2


def test_unknown_key_raises_naming_the_key():
    with pytest.raises(ValueError, match="hiden_units") as info:
        BaseModelConfig.from_dict({"max_history": 5, "hiden_units": [3]})
    assert "max_history" in str(info.value)  # the message also lists the expected keys
    with pytest.raises(ValueError, match="learning_rat'"):
        BaseModelConfig.from_json('{"learning_rat": 0.1}')


def test_positive_int_and_units_checks_name_the_field():
    import dataclasses

    import pytest

    from tfrec_pkg.config import Config

    @dataclasses.dataclass
    class Sizes(Config):
        width: int = 4
        units: tuple = (8, 4)

        def __post_init__(self):
            self.check_positive_ints("width")
            self.check_units("units")

    Sizes()
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="width must be a positive integer"):
            Sizes(width=bad)
    for bad in ((), (8, 0), (8, 2.5), (True,)):
        with pytest.raises(ValueError, match="units must be positive integers"):
            Sizes(units=bad)
