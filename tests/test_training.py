import json

import numpy as np
import pytest
import torch

from ior.data.loaders import TextDataset
from ior.models.victim import TextClassifier
from ior.training.config import TrainConfig
from ior.training.gradients import clip_gradients_, global_grad_norm, normalize_gradients_
from ior.training.trainer import train, trained_config

POS = ["a wonderful , moving film", "great acting and a fine story", "a joy to watch", "brilliant and funny"]
NEG = ["a dull , lifeless film", "terrible acting and a weak story", "a chore to sit through", "boring and flat"]


def _data(split="train", repeat=4):
    texts = (POS + NEG) * repeat
    labels = ([1] * len(POS) + [0] * len(NEG)) * repeat
    return TextDataset(name="toy", split=split, texts=tuple(texts), labels=tuple(labels),
                       label_names=("negative", "positive"))


def _params():
    torch.manual_seed(0)
    layer = torch.nn.Linear(4, 3)
    layer(torch.randn(5, 4)).pow(2).sum().backward()
    return list(layer.parameters())


def test_normalize_gradients_gives_unit_global_norm_and_keeps_direction():
    params = _params()
    before = torch.cat([p.grad.flatten() for p in params]).clone()
    old = normalize_gradients_(params)
    after = torch.cat([p.grad.flatten() for p in params])
    assert old == pytest.approx(float(before.norm()), rel=1e-6)
    assert float(global_grad_norm(params)) == pytest.approx(1.0, rel=1e-6)
    assert torch.allclose(after * old, before, rtol=1e-5)


def test_clip_gradients_only_rescales_above_the_threshold():
    params = _params()
    norm = float(global_grad_norm(params))
    clip_gradients_(params, norm * 10)
    assert float(global_grad_norm(params)) == pytest.approx(norm, rel=1e-6)
    clip_gradients_(params, norm / 2)
    assert float(global_grad_norm(params)) == pytest.approx(norm / 2, rel=1e-4)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="temperature"):
        TrainConfig(model="m", temperature=0.0)
    with pytest.raises(ValueError, match="exclusive"):
        TrainConfig(model="m", grad_norm=True, grad_clip=1.0)
    with pytest.raises(ValueError, match="preset"):
        TrainConfig.from_preset("gpu", model="m")
    with pytest.raises(ValueError, match="unknown training config field"):
        TrainConfig.from_dict({"model": "m", "lr": 1})
    paper = TrainConfig.from_preset("paper", model="m")
    assert (paper.learning_rate, paper.batch_size, paper.epochs, paper.weight_decay) == (1e-5, 8, 5, 0.01)
    assert paper.fingerprint() != paper.with_updates(temperature=100.0).fingerprint()


@pytest.mark.parametrize("options", [dict(), dict(temperature=100.0, grad_norm=True)])
def test_training_learns_a_separable_toy_task_and_saves_everything(tiny_bert, tmp_path, options):
    config = TrainConfig(model=tiny_bert, preset="custom", learning_rate=3e-3, batch_size=8, epochs=10,
                         max_length=16, seed=0, **options)
    out = tmp_path / "run"
    metrics = train(config, _data(), out, eval_data=_data("validation", 1), progress=False)
    losses = [h["train_loss"] for h in metrics["history"]]
    assert losses[-1] < losses[0]
    assert metrics["final"]["eval_accuracy"] == 1.0
    saved = trained_config(out)
    assert saved["train"]["temperature"] == options.get("temperature", 1.0)
    assert saved["train"]["grad_norm"] == options.get("grad_norm", False)
    assert saved["config_fingerprint"] == config.fingerprint()
    assert (out / "model.safetensors").is_file() and not (out.parent / "run.partial").exists()
    written = json.loads((out / "metrics.json").read_text())
    assert written["weights_sha256"]
    # What decides the rounding besides the config: a retrain elsewhere can be told from one here.
    import transformers

    assert written["machine"] == {"torch": torch.__version__, "transformers": transformers.__version__,
                                  "threads": torch.get_num_threads(),
                                  "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    clf = TextClassifier.from_pretrained(out)
    assert clf.max_length == 16 and clf.label_names == ("negative", "positive")
    preds = clf.logits(list(POS + NEG)).argmax(axis=1)
    assert (preds == np.array([1] * 4 + [0] * 4)).all()


def test_training_is_seeded(tiny_bert, tmp_path):
    config = TrainConfig(model=tiny_bert, preset="custom", learning_rate=1e-3, batch_size=8, epochs=1,
                         max_length=16, seed=3)
    a = train(config, _data(), tmp_path / "a", progress=False)
    b = train(config, _data(), tmp_path / "b", progress=False)
    assert a["final"]["train_loss"] == b["final"]["train_loss"]


def test_a_stopped_run_resumes_after_its_last_epoch_and_ends_as_an_uninterrupted_one(tiny_bert, tmp_path,
                                                                                    monkeypatch):
    import ior.training.trainer as trainer

    config = TrainConfig(model=tiny_bert, preset="custom", method="pgd", adv_steps=2, learning_rate=1e-3,
                         batch_size=8, epochs=3, max_length=16, seed=5, grad_norm=True)
    whole = train(config, _data(), tmp_path / "whole", eval_data=_data("validation", 1), progress=False)
    real, calls = trainer.normalize_gradients_, []

    def killed_in_the_third_epoch(params):  # 4 steps per epoch
        calls.append(1)
        if len(calls) == 10:
            raise KeyboardInterrupt
        return real(params)

    monkeypatch.setattr(trainer, "normalize_gradients_", killed_in_the_third_epoch)
    resume = tmp_path / "state"
    with pytest.raises(KeyboardInterrupt):
        train(config, _data(), tmp_path / "resumed", eval_data=_data("validation", 1), progress=False,
              resume_dir=resume)
    assert [p.name for p in resume.iterdir()] == ["epoch-0002"]  # the newest finished epoch only
    monkeypatch.setattr(trainer, "normalize_gradients_", real)
    resumed = train(config, _data(), tmp_path / "resumed", eval_data=_data("validation", 1), progress=False,
                    resume_dir=resume)
    assert resumed["history"] == whole["history"] and resumed["stopped"] == whole["stopped"]
    assert resumed["elapsed_seconds"] > 0 and not resume.exists()
    a, b = (json.loads((tmp_path / d / "metrics.json").read_text())["weights_sha256"] for d in ("whole", "resumed"))
    assert a == b  # optimizer, schedule, dropout and PGD's random starts all continued where they stopped


def test_a_resume_state_of_another_configuration_is_not_restored(tiny_bert, tmp_path):
    config = TrainConfig(model=tiny_bert, preset="custom", learning_rate=1e-3, batch_size=8, epochs=2,
                         max_length=16, seed=5)
    resume = tmp_path / "state"
    from ior.training.resume import EpochCheckpoint

    other = config.with_updates(seed=6)
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    EpochCheckpoint(resume, {"config": other.fingerprint()}).save(
        1, model, optimizer, schedule, rng=np.random.default_rng(0), step=4, history=[{"epoch": 1}],
        elapsed_seconds=1.0, grad_norm=None)
    assert EpochCheckpoint(resume, {"config": config.fingerprint()}).restore(
        model, optimizer, schedule, rng=np.random.default_rng(0)) is None
    whole = train(config, _data(), tmp_path / "a", progress=False)
    again = train(config, _data(), tmp_path / "b", progress=False, resume_dir=resume)  # trains from scratch
    assert again["history"] == whole["history"] and not resume.exists()
