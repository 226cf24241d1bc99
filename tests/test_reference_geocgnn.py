"""benchmarks/reference_geocgnn.py: a saved reference result is reused only for the recipe and split it was trained on."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_a_reference_result_is_keyed_by_recipe_and_split():
    from reference_geocgnn import result_key
    recipe = {"epochs": 30, "lr": 1e-3, "weight_decay": 5e-4, "batch_size": 64}
    split = {"train": ["b", "a"], "val": ["c"], "test": ["d"]}
    key = result_key(recipe, split)
    assert key == result_key(dict(recipe), {"train": ["a", "b"], "val": ["c"], "test": ["d"]})  # order does not count
    assert key != result_key({**recipe, "weight_decay": 0.0}, split)
    assert key != result_key(recipe, {**split, "test": ["e"]})
