"""Image architectures and the image victim: shapes, normalisation, save/load, input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ior.models.image import (
    ARCHITECTURES,
    Normalize,
    PreActResNet18,
    SmallCNN,
    WideResNet,
    build_image_model,
)
from ior.models.image_classifier import (
    ImageClassifier,
    is_image_model,
    load_user_module,
    save_image_classifier,
)
from ior.models.temperature import serve

CNN_KWARGS = {"num_classes": 10, "in_channels": 1, "image_size": 28}
TINY_WRN = {"num_classes": 10, "in_channels": 3, "image_size": 32, "depth": 10, "widen_factor": 1}


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _pixels(n, shape=(1, 28, 28), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def _saved_cnn(tmp_path, seed=0):
    torch.manual_seed(seed)
    model = build_image_model("cnn", mean=[0.3], std=[0.4], **CNN_KWARGS)
    folder = tmp_path / "cnn"
    save_image_classifier(model, folder, arch="cnn", arch_kwargs=CNN_KWARGS,
                          label_names=[f"c{i}" for i in range(10)], extra_config={"note": "test"})
    return model, folder


# --- architectures -------------------------------------------------------------------------------

@pytest.mark.parametrize("arch, kwargs, shape", [
    ("cnn", CNN_KWARGS, (1, 28, 28)),
    ("preact-resnet18", {"num_classes": 7, "in_channels": 3, "image_size": 32}, (3, 32, 32)),
    ("wrn-28-10", TINY_WRN, (3, 32, 32)),
])
def test_every_architecture_returns_n_by_num_classes(arch, kwargs, shape):
    model = build_image_model(arch, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.rand(2, *shape))
    assert out.shape == (2, kwargs["num_classes"])
    assert out.dtype == torch.float32


def test_preact_and_tiny_wrn_accept_64x64_inputs():
    with torch.no_grad():
        assert PreActResNet18(num_classes=200).eval()(torch.rand(1, 3, 64, 64)).shape == (1, 200)
        wrn = WideResNet(depth=10, widen_factor=1, num_classes=5).eval()
        assert wrn(torch.rand(1, 3, 64, 64)).shape == (1, 5)


def test_smallcnn_works_on_32x32_rgb():
    assert SmallCNN(in_channels=3, image_size=32)(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_parameter_counts_match_the_references():
    assert _n_params(SmallCNN()) == 312_202
    assert _n_params(PreActResNet18(num_classes=10)) == 11_172_170
    with torch.device("meta"):  # WRN-28-10 is counted, never run
        assert _n_params(WideResNet(depth=28, widen_factor=10, num_classes=10)) == 36_479_194


def test_unknown_arch_lists_the_choices():
    with pytest.raises(ValueError, match=r"arch must be one of \['cnn', 'preact-resnet18', 'wrn-28-10'\]"):
        build_image_model("resnet50", **CNN_KWARGS)
    assert set(ARCHITECTURES) == {"cnn", "preact-resnet18", "wrn-28-10"}


def test_bad_architecture_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="unknown option.*'depth'.*'cnn'"):
        build_image_model("cnn", depth=10, **CNN_KWARGS)
    with pytest.raises(ValueError, match="depth must be 6n"):
        WideResNet(depth=12)
    with pytest.raises(ValueError, match="image_size must be >= 16"):
        SmallCNN(image_size=8)
    with pytest.raises(ValueError, match="std must be > 0"):
        Normalize([0.5, 0.5], [0.5, 0.0])
    with pytest.raises(ValueError, match=r"mean must have one value per channel \(3\)"):
        build_image_model("preact-resnet18", num_classes=10, in_channels=3, image_size=32, mean=[0.5])


def test_normalize_lives_inside_the_model():
    torch.manual_seed(0)
    mean, std = [0.4914, 0.4822, 0.4465], [0.2471, 0.2435, 0.2616]
    model = build_image_model("wrn-28-10", mean=mean, std=std, **TINY_WRN).eval()
    x = torch.rand(3, 3, 32, 32)
    expected = model.net((x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))
    torch.testing.assert_close(model(x), expected)
    assert {"normalize.mean", "normalize.std"} <= set(model.state_dict())


def test_default_normalisation_is_the_identity():
    model = build_image_model("cnn", **CNN_KWARGS)
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(model.normalize(x), x)


# --- save / load ---------------------------------------------------------------------------------

def test_save_load_round_trip_is_bit_identical(tmp_path):
    model, folder = _saved_cnn(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["ior_config.json", "model.safetensors"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
    config = json.loads((folder / "ior_config.json").read_text())
    assert config["modality"] == "image" and config["input_shape"] == [1, 28, 28] and config["note"] == "test"
    assert is_image_model(folder)

    loaded = ImageClassifier.from_pretrained(folder, batch_size=3)  # same batches: bit-identical
    again = ImageClassifier.from_pretrained(folder)
    x = _pixels(7)
    original = ImageClassifier(model, num_labels=10, input_shape=(1, 28, 28), batch_size=3)
    np.testing.assert_array_equal(loaded.logits(x), original.logits(x))
    assert loaded.weights_hash == again.weights_hash and len(loaded.weights_hash) == 64
    assert loaded.label_names == tuple(f"c{i}" for i in range(10))
    assert loaded.input_shape == (1, 28, 28) and loaded.name == str(folder)
    torch.testing.assert_close(loaded.torch_module.normalize.mean.flatten(), torch.tensor([0.3]))


def test_saving_again_replaces_the_model_and_changes_the_hash(tmp_path):
    _, folder = _saved_cnn(tmp_path, seed=0)
    first = ImageClassifier.from_pretrained(folder).weights_hash
    _saved_cnn(tmp_path, seed=1)
    assert ImageClassifier.from_pretrained(folder).weights_hash != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn"]


def test_save_refuses_to_replace_a_folder_that_is_not_an_image_model(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("precious")
    model = build_image_model("cnn", **CNN_KWARGS)
    with pytest.raises(ValueError, match="exists and is not an ior image model"):
        save_image_classifier(model, tmp_path / "data", arch="cnn", arch_kwargs=CNN_KWARGS,
                              label_names=list("abcdefghij"))
    assert (tmp_path / "data" / "keep.txt").read_text() == "precious"


def test_save_checks_the_module_against_the_architecture(tmp_path):
    model = build_image_model("cnn", **CNN_KWARGS)
    with pytest.raises(ValueError, match="module does not match arch 'cnn'.*wrong shape"):
        save_image_classifier(model, tmp_path / "m", arch="cnn", arch_kwargs=dict(CNN_KWARGS, num_classes=3),
                              label_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="label_names has 2 names but num_classes is 10"):
        save_image_classifier(model, tmp_path / "m", arch="cnn", arch_kwargs=CNN_KWARGS,
                              label_names=["a", "b"])
    assert not (tmp_path / "m").exists()


def test_tampered_state_dict_is_one_line_naming_the_keys(tmp_path):
    _, folder = _saved_cnn(tmp_path)
    state = load_file(str(folder / "model.safetensors"))
    state["net.extra.weight"] = state.pop("net.classifier.5.weight")
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match=r"1 missing \(net.classifier.5.weight\); 1 unexpected "
                                         r"\(net.extra.weight\)") as info:
        ImageClassifier.from_pretrained(folder)
    assert "\n" not in str(info.value)


def test_pickled_weights_are_never_loaded(tmp_path):
    model, folder = _saved_cnn(tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(ValueError, match="no model.safetensors.*never loads pickled weights"):
        ImageClassifier.from_pretrained(folder)
    with pytest.raises(ValueError, match="never loads pickled weights"):
        load_user_module(model, folder / "pytorch_model.bin")


def test_missing_folder_config_or_wrong_modality(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        ImageClassifier.from_pretrained(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no ior_config.json"):
        ImageClassifier.from_pretrained(tmp_path / "empty")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "ior_config.json").write_text(json.dumps({"train": {}}))
    with pytest.raises(ValueError, match="is not an image model"):
        ImageClassifier.from_pretrained(tmp_path / "text")
    assert not is_image_model(tmp_path / "text") and not is_image_model(tmp_path / "nope")


def test_load_user_module_round_trip(tmp_path):
    model, folder = _saved_cnn(tmp_path)
    fresh = build_image_model("cnn", **CNN_KWARGS)
    assert load_user_module(fresh, folder / "model.safetensors") is fresh
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))
    with pytest.raises(ValueError, match="do not match the model: .*wrong shape"):
        load_user_module(build_image_model("cnn", num_classes=3, in_channels=1, image_size=28), folder)


# --- the victim ----------------------------------------------------------------------------------

@pytest.fixture
def cnn_victim():
    torch.manual_seed(0)
    return ImageClassifier(build_image_model("cnn", **CNN_KWARGS), input_shape=(1, 28, 28), batch_size=4)


def test_num_labels_is_inferred_from_a_zero_image(cnn_victim):
    assert cnn_victim.num_labels == 10 and cnn_victim.forward_count == 0
    assert cnn_victim.label_names == tuple(str(i) for i in range(10))
    with pytest.raises(ValueError, match="num_labels is required"):
        ImageClassifier(nn.Linear(2, 2))


def test_input_checks(cnn_victim):
    with pytest.raises(ValueError, match=r"images must have shape \[N, C, H, W\], got \(1, 28, 28\)"):
        cnn_victim.logits(_pixels(1)[0])
    with pytest.raises(ValueError, match=r"images have shape \(1, 32, 32\) but the model takes "
                                         r"\(1, 28, 28\)"):
        cnn_victim.logits(_pixels(2, (1, 32, 32)))
    with pytest.raises(ValueError, match=r"pixel values must lie in \[0, 1\], got \[0, 255\]"):
        cnn_victim.logits(np.concatenate([np.zeros((1, 1, 28, 28)), np.full((1, 1, 28, 28), 255.0)]))
    with pytest.raises(TypeError, match="images must be floating point"):
        cnn_victim.logits(np.zeros((1, 1, 28, 28), dtype=np.uint8))
    with pytest.raises(TypeError, match="images must be a numpy array or torch tensor, got list"):
        cnn_victim.logits([[0.0]])
    assert cnn_victim.forward_count == 0


def test_torch_and_float64_inputs_and_empty_batches(cnn_victim):
    x = _pixels(3)
    expected = cnn_victim.logits(x)
    assert expected.dtype == np.float32 and expected.shape == (3, 10)
    np.testing.assert_array_equal(cnn_victim.logits(torch.from_numpy(x)), expected)
    np.testing.assert_array_equal(cnn_victim.logits(x.astype(np.float64)), expected)
    assert cnn_victim.logits(np.zeros((0, 1, 28, 28), dtype=np.float32)).shape == (0, 10)


class _Constant(nn.Module):
    def __init__(self, value, columns=2, rank=2):
        super().__init__()
        self.value, self.columns, self.rank = value, columns, rank

    def forward(self, x):
        out = torch.full((x.shape[0], self.columns), self.value)
        return out if self.rank == 2 else out.unsqueeze(-1)


def test_non_finite_or_badly_shaped_outputs_are_errors():
    x = _pixels(2, (1, 2, 2))
    with pytest.raises(ValueError, match="non-finite logits .* for 2 of 2 images"):
        ImageClassifier(_Constant(float("nan")), num_labels=2).logits(x)
    with pytest.raises(ValueError, match=r"logits of shape \[2, C\], got \(2, 2, 1\)"):
        ImageClassifier(_Constant(0.0, rank=3), num_labels=2).logits(x)
    with pytest.raises(ValueError, match="returned 3 logits per image, expected num_labels=2"):
        ImageClassifier(_Constant(0.0, columns=3), num_labels=2).logits(x)


def test_eval_mode_is_used_and_the_previous_mode_restored():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Flatten(), nn.Linear(4, 16), nn.Dropout(0.5), nn.Linear(16, 3))
    module[3].eval()  # a mixed-mode module comes back exactly as it was
    victim = ImageClassifier(module, input_shape=(1, 2, 2))
    x = _pixels(8, (1, 2, 2))
    first, second = victim.logits(x), victim.logits(x)
    np.testing.assert_array_equal(first, second)
    assert [m.training for m in module] == [True, True, True, False]


def test_forward_count_counts_images_and_batching_does_not_change_logits(cnn_victim):
    x = _pixels(10)
    batched = cnn_victim.logits(x)  # batch_size 4: three passes
    assert cnn_victim.forward_count == 10
    whole = ImageClassifier(cnn_victim.torch_module, num_labels=10, batch_size=64).logits(x)
    np.testing.assert_allclose(batched, whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(cnn_victim.logits_uncached(x), batched)
    assert cnn_victim.forward_count == 20


def test_temperature_serving_wraps_an_image_victim(cnn_victim):
    x = _pixels(2)
    np.testing.assert_allclose(serve(cnn_victim, 0.5).logits(x), cnn_victim.logits(x) / np.float32(0.5))
    assert "T=0.5" in serve(cnn_victim, 0.5).describe()


def test_constructor_checks():
    with pytest.raises(TypeError, match="module must be a torch.nn.Module, got function"):
        ImageClassifier(lambda x: x, num_labels=2)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        ImageClassifier(nn.Linear(2, 2), num_labels=2, batch_size=0)
    with pytest.raises(ValueError, match="label_names has 3 names but num_labels is 2"):
        ImageClassifier(nn.Linear(2, 2), num_labels=2, label_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="input_shape must be three positive ints"):
        ImageClassifier(nn.Linear(2, 2), input_shape=(28, 28))


def test_image_training_stopped_mid_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    import ior.training.images as image_training
    from ior.data.images import ImageDataset
    from ior.training.images import ImageTrainConfig, train_image

    rng = np.random.default_rng(0)
    data = ImageDataset(name="toy", split="train", images=rng.uniform(0, 1, (48, 1, 16, 16)).astype(np.float32),
                        labels=np.arange(48) % 3, label_names=("a", "b", "c"))
    # PGD's random starts, augmentation's generator and a cosine schedule: every state a resume must restore.
    config = ImageTrainConfig(dataset="toy", method="pgd", adv_steps=2, epsilon=0.1, epochs=3, batch_size=16,
                              augment=True, schedule="cosine", grad_norm=True, seed=2)
    whole = train_image(config, data, tmp_path / "whole", progress=False)
    real, calls = image_training.normalize_gradients_, []

    def killed_in_the_third_epoch(params):
        calls.append(1)
        if len(calls) == 8:
            raise KeyboardInterrupt
        return real(params)

    monkeypatch.setattr(image_training, "normalize_gradients_", killed_in_the_third_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_image(config, data, tmp_path / "resumed", progress=False, resume_dir=tmp_path / "state")
    monkeypatch.setattr(image_training, "normalize_gradients_", real)
    resumed = train_image(config, data, tmp_path / "resumed", progress=False, resume_dir=tmp_path / "state")
    assert resumed["history"] == whole["history"] and not (tmp_path / "state").exists()
    a, b = (json.loads((tmp_path / d / "metrics.json").read_text())["weights_sha256"] for d in ("whole", "resumed"))
    assert a == b
