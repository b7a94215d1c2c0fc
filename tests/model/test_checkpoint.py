"""Loading prefixed state dicts and checking dataset metadata against a checkpoint."""

import pytest
import torch

from trm_pipeline.model import (
    TinyRecursiveModel,
    TRMConfig,
    check_dataset_metadata,
    load_model_state,
    strip_compile_prefix,
)


def small_model(**overrides) -> TinyRecursiveModel:
    values = {"hidden_size": 16, "num_heads": 2, "num_layers": 1, "puzzle_emb_len": 2}
    values.update(overrides)
    return TinyRecursiveModel(TRMConfig(**values))


@pytest.mark.parametrize(
    "key",
    [
        "_orig_mod.net.weight",
        "module.net.weight",
        "module._orig_mod.net.weight",
        "_orig_mod.module.net.weight",
        "net.weight",
    ],
)
def test_strip_compile_prefix_removes_wrappers(key):
    assert list(strip_compile_prefix({key: 1})) == ["net.weight"]


def test_strip_compile_prefix_rejects_colliding_keys():
    with pytest.raises(ValueError, match="collide"):
        strip_compile_prefix({"_orig_mod.a": 1, "a": 2})


def test_compiled_state_dict_loads_into_plain_model():
    torch.manual_seed(0)
    source = small_model()
    torch.manual_seed(1)
    target = small_model()
    saved = torch.compile(source).state_dict()

    load_model_state(target, saved)

    assert all(key.startswith("_orig_mod.") for key in saved)
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value)


def test_plain_state_dict_loads_into_compiled_model():
    source, target = small_model(), small_model()
    compiled = torch.compile(target)

    load_model_state(compiled, source.state_dict())

    torch.testing.assert_close(target.initial_answer, source.initial_answer)


def test_load_reports_missing_and_unexpected_keys():
    state = small_model().state_dict()
    state["extra.weight"] = state.pop("lm_head.weight")

    with pytest.raises(ValueError, match=r"missing keys: lm_head\.weight") as error:
        load_model_state(small_model(), state)

    assert "unexpected keys: extra.weight" in str(error.value)
    assert "TRMConfig" in str(error.value)


def test_load_reports_shape_mismatch():
    state = small_model(hidden_size=32).state_dict()

    with pytest.raises(ValueError, match=r"shape mismatches: .*\[11, 32\] vs model \[11, 16\]"):
        load_model_state(small_model(), state)


def test_metadata_match_passes():
    metadata = {"vocab_size": 11, "seq_len": 81, "token_map": {"blank": 1}}

    check_dataset_metadata(metadata, dict(metadata))


def test_metadata_mismatch_names_field_and_values():
    expected = {"vocab_size": 11, "seq_len": 81, "token_map": {"blank": 1}}
    actual = {"vocab_size": 12, "seq_len": 81}

    with pytest.raises(ValueError, match="vocab_size: checkpoint has 11, dataset has 12") as error:
        check_dataset_metadata(expected, actual)

    message = str(error.value)
    assert "token_map: checkpoint has {'blank': 1}, dataset has '<missing>'" in message
    assert "seq_len" not in message
    assert "Rebuild the data" in message


def test_metadata_custom_fields():
    with pytest.raises(ValueError, match="pad_id"):
        check_dataset_metadata({"pad_id": 0}, {"pad_id": 1}, fields=("pad_id",))
