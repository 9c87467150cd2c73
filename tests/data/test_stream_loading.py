"""``load_stream`` (tfrec_pkg/data/stream_loading.py): the format of each kind of file inferred,
a user's own log (CSV, Parquet, DataFrame) read into the same stream as ``InteractionStream``
builds from the rows, the public readers behind the same call, and bad input named by file,
line and column."""
import numpy as np
import pandas as pd
import pytest

from tfrec_pkg.data import load_stream
from tfrec_pkg.data.datasets.ijcai16 import read_ijcai16
from tfrec_pkg.data.interactions import PURCHASE, InteractionStream
from tfrec_pkg.data.stream_loading import infer_stream_format


def log_frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"user_id": rng.integers(1, 9, n), "item_id": rng.integers(100, 120, n),
                         "timestamp": rng.permutation(n).astype(float) * 10.0,
                         "action": (rng.random(n) < 0.2).astype(int)})


def test_formats_are_inferred_from_the_file(tmp_path):
    jodie = tmp_path / "wikipedia.csv"
    jodie.write_text("user_id,item_id,timestamp,state_label,comma_separated_list_of_features\n0,1,0.0,0,0.5\n")
    own = tmp_path / "events.csv"
    log_frame().to_csv(own, index=False)
    ijcai = tmp_path / "ijcai2016_taobao.csv"
    ijcai.write_text("use_ID,sel_ID,ite_ID,cat_ID,act_ID,time\n1,44,73,6,1,20150701\n")
    assert infer_stream_format(jodie) == "jodie_csv"
    assert infer_stream_format(own) == "log"
    assert infer_stream_format(ijcai) == "ijcai16"
    assert infer_stream_format(tmp_path / "events.parquet") == "log"
    assert infer_stream_format(log_frame()) == "log"
    with pytest.raises(ValueError, match="pass format= \\(one of log, jodie_csv, ijcai16\\)"):
        infer_stream_format(tmp_path / "events.txt")
    with pytest.raises(ValueError, match="expected one of"):
        load_stream(own, format="sequences")


@pytest.mark.parametrize("kind", ["csv", "parquet", "frame"])
def test_a_users_log_reads_as_the_stream_of_its_rows(tmp_path, kind):
    frame = log_frame()
    source = frame
    if kind != "frame":
        source = tmp_path / f"events.{kind}"
        frame.to_csv(source, index=False) if kind == "csv" else frame.to_parquet(source)
    stream = load_stream(source)
    want = InteractionStream.from_frame(frame)
    pd.testing.assert_frame_equal(stream.frame[list(frame.columns)], want.frame[list(frame.columns)], check_dtype=False)
    assert np.diff(stream.frame["timestamp"]).min() > 0 and (stream.frame["action"] == PURCHASE).sum() == frame["action"].sum()
    assert stream.num_features == 0


def test_the_public_readers_behind_the_same_call(tmp_path):
    path = tmp_path / "ijcai2016_taobao.csv"
    path.write_text("use_ID,sel_ID,ite_ID,cat_ID,act_ID,time\n1,44,73,6,1,20150701\n2,44,74,6,0,20150630\n")
    pd.testing.assert_frame_equal(load_stream(path).frame, read_ijcai16(path).frame)
    jodie = tmp_path / "reddit.csv"
    jodie.write_text("user_id,item_id,timestamp,state_label,comma_separated_list_of_features\n"
                     "0,1,0.0,0,0.5,1.5\n1,1,2.0,0,0.25,-1.0\n")
    stream = load_stream(jodie)
    assert stream.num_features == 2 and list(stream.frame["item_id"]) == [1, 1]


def test_bad_input_names_file_line_and_column(tmp_path):
    frame = log_frame()
    path = tmp_path / "events.csv"
    lines = frame.to_csv(index=False).splitlines()
    lines[5] = "3,shoe,40.0,0"                    # file line 6
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"(?s)events\.csv.*column 'item_id'.*line 6, e\.g\. \['shoe'\]"):
        load_stream(path)
    frame.drop(columns="action").to_csv(path, index=False)
    with pytest.raises(ValueError, match="action"):
        load_stream(path)
    with pytest.raises(ValueError, match="read as format 'log'"):
        load_stream(frame, format="jodie_csv")
