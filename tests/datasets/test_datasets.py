"""Data in: every loader on real files, task inference, built-ins, and bad input refused clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

import tradeoff
from tradeoff.cli import app
from tradeoff.datasets import infer_task, load

runner = CliRunner()


def iris_frame() -> pd.DataFrame:
    """Iris with species names as text and a text column derived from a real measurement."""
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = bunch.frame.rename(columns={"target": "species"})
    frame["species"] = bunch.target_names[bunch.target]
    frame["petal_size"] = pd.cut(frame["petal length (cm)"], [0, 2, 5, 9], labels=["S", "M", "L"])
    frame["petal_size"] = frame["petal_size"].astype(str)
    return frame


# ---------------------------------------------------------------- tables


def test_csv_encodes_categoricals_one_hot_and_records_the_encoding(tmp_path):
    frame = iris_frame()
    frame.loc[3, "petal_size"] = None
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    data = load(path, target="species")
    assert data.task == "multiclass" and data.modality == "tabular"
    assert data.classes == ("setosa", "versicolor", "virginica")
    assert data.X.dtype == np.float32 and data.X.shape == (150, 4 + 3)
    size = next(c for c in data.columns if c.name == "petal_size")
    assert size.kind == "categorical" and size.categories == ("L", "M", "S")
    assert data.feature_names[-3:] == ("petal_size=L", "petal_size=M", "petal_size=S")
    onehot = data.X[:, -3:]
    assert np.isnan(onehot[3]).all()  # missing: imputed later, from the training split
    rows = np.delete(np.arange(150), 3)
    assert np.array_equal(onehot[rows].sum(axis=1), np.ones(149))
    assert data.source == {"name": str(path.resolve()), "target": "species", "task": None}


def test_parquet_loads_like_csv(tmp_path):
    frame = iris_frame()
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_parquet(tmp_path / "a.parquet")
    a, b = (
        load(tmp_path / "a.csv", target="species"),
        load(tmp_path / "a.parquet", target="species"),
    )
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y) and a.columns == b.columns


def test_rows_without_a_target_are_dropped_and_counted(tmp_path):
    frame = iris_frame()
    frame.loc[[0, 60, 120], "species"] = None
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = load(tmp_path / "t.csv", target="species")
    assert len(data.y) == 147 and data.n_missing_target_dropped == 3


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0.5, 1.25, 3.0, 2.0], "regression"),
        (list(range(100)), "regression"),  # many distinct integers: a count, not classes
        ([0, 1, 1, 0], "binary"),
        ([1, 2, 3, 1], "multiclass"),
        (["yes", "no", "no"], "binary"),
        ([True, False, True], "binary"),
    ],
)
def test_task_is_inferred_from_the_target(values, task):
    assert infer_task(pd.Series(values)) == task


def test_task_override_and_regression_targets(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "grade": rng.integers(1, 4, size=60)})
    frame.to_csv(tmp_path / "g.csv", index=False)
    assert load(tmp_path / "g.csv", target="grade").task == "multiclass"
    data = load(tmp_path / "g.csv", target="grade", task="regression")
    assert data.task == "regression" and data.y.dtype == np.float32 and data.classes == ()
    assert np.array_equal(data.y, frame["grade"].to_numpy(np.float32))


# ---------------------------------------------------------------- arrays


def test_npz_shapes_give_the_modality_and_modality_disambiguates(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 10)
    for shape, modality in [
        ((20, 5), "tabular"),
        ((20, 12, 2), "sequence"),
        ((20, 3, 6, 6), "image"),
    ]:
        np.savez(tmp_path / "a.npz", X=rng.normal(size=shape), y=y)
        data = load(tmp_path / "a.npz")
        assert data.modality == modality and data.X.shape == shape and data.X.dtype == np.float32
    np.savez(tmp_path / "b.npz", X=rng.normal(size=(20, 12)), y=y)
    assert load(tmp_path / "b.npz", modality="sequence").X.shape == (20, 12, 1)
    np.savez(tmp_path / "c.npz", X=rng.normal(size=(20, 6, 6)), y=y)
    assert load(tmp_path / "c.npz", modality="image").X.shape == (20, 1, 6, 6)
    assert load(tmp_path / "c.npz").modality == "sequence"


def test_npy_inputs_with_an_npy_of_labels(tmp_path):
    X = np.arange(40, dtype=np.float64).reshape(10, 4)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", np.array(["a", "b"] * 5))
    data = load(tmp_path / "X.npy", target=str(tmp_path / "y.npy"))
    assert data.X.shape == (10, 4) and data.classes == ("a", "b") and list(data.y[:2]) == [0, 1]


# ---------------------------------------------------------------- images and time series


def write_images(root, classes=("cat", "dog"), n=6, mode="RGB", sizes=((20, 16), (9, 12))):
    rng = np.random.default_rng(0)
    for label in classes:
        (root / label).mkdir(parents=True)
        for i in range(n):
            w, h = sizes[i % len(sizes)]
            channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
            pixels = rng.integers(0, 256, size=(h, w, channels), dtype=np.uint8)
            Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(
                root / label / f"{i}.png"
            )


def test_image_folder_resized_to_a_fixed_size(tmp_path):
    write_images(tmp_path / "pets")
    data = load(tmp_path / "pets", image_size=10)
    assert data.modality == "image" and data.X.shape == (12, 3, 10, 10)
    assert data.classes == ("cat", "dog") and data.X.min() >= 0 and data.X.max() <= 1
    write_images(tmp_path / "grey", mode="L")
    assert load(tmp_path / "grey").X.shape == (12, 1, 32, 32)


def test_ts_file_brings_its_test_split(tmp_path):
    from pathlib import Path

    import sktime.datasets

    folder = Path(sktime.datasets.__file__).parent / "data" / "GunPoint"
    data = load(folder / "GunPoint_TRAIN.ts")
    assert data.modality == "sequence" and data.X.shape == (50, 150, 1)
    assert data.X_test.shape == (150, 150, 1) and set(data.y_test) == {0, 1}
    alone = load(folder / "GunPoint_TEST.ts")
    assert alone.X_test is None and alone.X.shape == (150, 150, 1)


def test_builtins_have_the_documented_shapes():
    digits = load("digits")
    assert digits.modality == "image" and digits.X.shape == (1797, 1, 8, 8)
    assert digits.X.min() >= 0.0 and digits.X.max() <= 1.0 and digits.n_classes == 10
    iris = load("iris")
    assert iris.X.shape == (150, 4) and iris.task == "multiclass"
    gun = load("gunpoint")
    assert gun.task == "binary" and gun.X.shape == (50, 150, 1) and len(gun.y_test) == 150
    assert gun.source == {"name": "gunpoint"}


def test_datasets_command_lists_every_builtin():
    result = runner.invoke(app, ["datasets"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("mnist1d", "digits", "breast_cancer", "iris", "gunpoint"):
        assert name in result.stdout
    assert "[1, 8, 8]" in result.stdout and "image" in result.stdout


# ---------------------------------------------------------------- bad input


def _csv(tmp_path, frame, name="d.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def case_missing_file(tmp_path):
    return [str(tmp_path / "nope.csv"), "--target", "y"], "nope.csv': no such file or folder"


def case_unsupported_format(tmp_path):
    (tmp_path / "d.xlsx").write_bytes(b"PK\x03\x04 not really")
    return [str(tmp_path / "d.xlsx")], "unsupported format '.xlsx'"


def case_unreadable_parquet(tmp_path):
    (tmp_path / "d.parquet").write_bytes(b"this is not parquet at all")
    return [str(tmp_path / "d.parquet"), "--target", "y"], "cannot read it as Parquet"


def case_unreadable_csv(tmp_path):
    (tmp_path / "d.csv").write_bytes(b"a,b\n\xff\xfe\x00\x81,\x9c\n")
    return [str(tmp_path / "d.csv"), "--target", "b"], "cannot read it as CSV"


def case_empty_file(tmp_path):
    (tmp_path / "d.csv").write_text("")
    return [str(tmp_path / "d.csv"), "--target", "y"], "d.csv: the file is empty"


def case_header_only(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,y\n")
    return [str(tmp_path / "d.csv"), "--target", "y"], "holds no data rows"


def case_target_absent(tmp_path):
    path = _csv(tmp_path, iris_frame())
    return [str(path), "--target", "label"], "no column 'label' in d.csv; columns: sepal length"


def case_no_target_given(tmp_path):
    path = _csv(tmp_path, iris_frame())
    return [str(path)], "--target: d.csv is a table"


def case_single_class(tmp_path):
    frame = iris_frame()
    frame["species"] = "setosa"
    return [str(_csv(tmp_path, frame)), "--target", "species"], "a single class (setosa)"


def case_too_few_in_a_class(tmp_path):
    frame = pd.concat([iris_frame().iloc[:100], iris_frame().iloc[100:102]])
    return [str(_csv(tmp_path, frame)), "--target", "species"], "class 'virginica'"


def case_all_nan_column(tmp_path):
    frame = iris_frame()
    frame["empty"] = np.nan
    return [str(_csv(tmp_path, frame)), "--target", "species"], "column 'empty' has no values"


def case_identifier_column(tmp_path):
    frame = pd.concat([iris_frame()] * 3, ignore_index=True)
    frame["patient"] = [f"p{i:04d}" for i in range(len(frame))]
    return [str(_csv(tmp_path, frame)), "--target", "species"], "column 'patient' has 450 distinct"


def case_non_numeric_npy(tmp_path):
    np.save(tmp_path / "X.npy", np.array([["1.5", "abc"]] * 10))
    np.save(tmp_path / "y.npy", np.array([0, 1] * 5))
    return [str(tmp_path / "X.npy"), "--target", str(tmp_path / "y.npy")], "non-numeric"


def case_object_npz(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.array([[1, "a"]] * 10, dtype=object), y=np.arange(10) % 2)
    return [str(tmp_path / "d.npz")], "non-numeric (object) values"


def case_mixed_channels(tmp_path):
    write_images(tmp_path / "imgs", classes=("a",), mode="RGB")
    write_images(tmp_path / "more", classes=("b",), mode="L")
    (tmp_path / "more" / "b").rename(tmp_path / "imgs" / "b")
    return [str(tmp_path / "imgs")], "images of mixed channel counts"


def case_npz_without_x_y(tmp_path):
    np.savez(tmp_path / "d.npz", features=np.zeros((4, 2)), labels=np.zeros(4))
    return [str(tmp_path / "d.npz")], "expected arrays named X and y, found features, labels"


def case_mismatched_lengths(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((10, 2)), y=np.zeros(9))
    return [str(tmp_path / "d.npz")], "X has 10 rows but y has 9"


def case_folder_for_a_file(tmp_path):
    (tmp_path / "d.csv").mkdir()
    return [str(tmp_path / "d.csv"), "--target", "y"], "is a folder, but a .csv file is expected"


def case_labels_path_is_a_folder(tmp_path):
    np.save(tmp_path / "X.npy", np.zeros((10, 2)))
    (tmp_path / "labels").mkdir()
    return [str(tmp_path / "X.npy"), "--target", str(tmp_path / "labels")], "is a folder"


def case_folder_without_classes(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "x.png").write_bytes(b"")
    return [str(tmp_path / "imgs")], "one sub-folder per class; found none"


def case_shape_not_the_modality(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((10, 2)), y=np.arange(10) % 2)
    return [str(tmp_path / "d.npz"), "--modality", "image"], "not image data"


def case_binary_with_three_classes(tmp_path):
    return [str(_csv(tmp_path, iris_frame())), "--target", "species", "--task", "binary"], (
        "--task binary needs exactly 2 classes, found 3"
    )


def case_regression_on_text(tmp_path):
    return [str(_csv(tmp_path, iris_frame())), "--target", "species", "--task", "regression"], (
        "needs a numeric target"
    )


def case_bad_task_name(tmp_path):
    return ["iris", "--task", "ranking"], "--task: expected one of"


def case_bad_ts(tmp_path):
    (tmp_path / "d.ts").write_text("@problemName x\n@data\n1,2,3:a\n")
    return [str(tmp_path / "d.ts")], "cannot read it as a UCR/UEA .ts file"


def case_bad_cv(tmp_path):
    return ["iris", "--cv", "1"], "--cv: expected a number of folds from 2 to 20"


def case_augment_not_for_tables(tmp_path):
    return ["iris", "--augment", "hflip"], "--augment: 'hflip' does not apply to tabular data"


CASES = [value for name, value in sorted(globals().items()) if name.startswith("case_")]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__[len("case_") :])
def test_bad_input_exits_2_with_one_line_naming_the_culprit(tmp_path, case):
    args, culprit = case(tmp_path)
    out = tmp_path / "run"
    result = runner.invoke(app, ["search", *args, "--trials", "1", "--out", str(out)])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert culprit in lines[0], lines[0]
    assert not out.exists()


def test_the_api_raises_tradeoff_error_too(tmp_path):
    with pytest.raises(tradeoff.TradeoffError, match="no column 'label'"):
        load(_csv(tmp_path, iris_frame()), target="label")


def test_ts_target_label_header_makes_a_regression(tmp_path):
    from pathlib import Path

    import sktime.datasets

    tecator = Path(sktime.datasets.__file__).parent / "data" / "Tecator" / "Tecator_TRAIN.ts"
    data = load(tecator)
    assert data.task == "regression" and data.classes == () and data.y.dtype == np.float32
    assert data.X.shape == (172, 100, 1) and data.y_test.shape == (43,)
    header = (
        "@problemName x\n@timeStamps false\n@missing false\n@univariate true\n@equalLength true\n"
    )
    (tmp_path / "r.ts").write_text(header + "@targetLabel true\n@data\n1,2,3:0.5\n2,3,4:1.5\n")
    small = load(tmp_path / "r.ts")
    assert small.task == "regression" and small.y.tolist() == [0.5, 1.5]
    with pytest.raises(tradeoff.TradeoffError, match=r"--task: r.ts declares numeric targets"):
        load(tmp_path / "r.ts", task="binary")
    (tmp_path / "c.ts").write_text(header + "@classLabel true 1 2\n@data\n1,2,3:1\n2,3,4:2\n")
    assert load(tmp_path / "c.ts").task == "binary"
    with pytest.raises(tradeoff.TradeoffError, match=r"--task: c.ts declares class labels"):
        load(tmp_path / "c.ts", task="regression")
