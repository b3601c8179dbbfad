"""Image attacks under temperature: outputs inside the threat model, the masked-gradient mechanism,
and one-line errors. Tiny random networks and fast budgets: seconds."""

import numpy as np
import pytest
import torch

from ior.attacks.image import ImageAttackConfig, ImageAttackSuite, canonical_attack, default_epsilon
from ior.attacks.results import Outcome
from ior.audit.gradients import gradient_diagnostic, gradient_flags, summarize_gradient_norms
from ior.models.temperature import (TemperatureScaled, TemperatureScaledModule, apply_temperatures,
                                    temperature_chain)

FAST = dict(pgd_steps=10, apgd_steps=10, fab_steps=10, square_queries=50, batch_size=16)


class Victim:
    """The smallest victim the suite accepts: a torch module and numpy logits."""

    def __init__(self, module, num_labels):
        self.torch_module, self.num_labels = module.eval(), num_labels

    def logits(self, images):
        with torch.no_grad():
            return self.torch_module(torch.as_tensor(np.asarray(images, dtype=np.float32))).numpy()


def tiny_cnn(classes=10, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 6 * 6, classes))


def linear(classes=10, seed=0, scale=1.0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, classes))
    with torch.no_grad():
        net[1].weight.mul_(scale)
    return net


def images(n=24, seed=0, size=8):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 0.8, (n, 1, size, size)).astype(np.float32)


def agreeing_labels(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).argmax(1).numpy()


@pytest.mark.parametrize("name", ["pgd", "apgd-ce", "apgd-dlr", "square", "fab", "autoattack"])
def test_every_attack_stays_inside_the_eps_ball_and_the_pixel_range(name):
    module = tiny_cnn()
    x = images()
    y = agreeing_labels(module, x)
    y[:3] = (y[:3] + 1) % 10  # three misclassified images: skipped, returned unchanged
    suite = ImageAttackSuite(ImageAttackConfig(epsilon=0.05, **FAST), num_labels=10, progress=False)
    results = suite.run(name, Victim(module, 10), x, y)
    adv = suite.adversarial_inputs(results)
    assert adv.shape == x.shape and adv.dtype == np.float32
    assert np.abs(adv - x).max() <= 0.05 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert [r.outcome for r in results[:3]] == [Outcome.SKIPPED] * 3
    assert np.array_equal(adv[:3], x[:3])
    assert not any(r.recheck_failed for r in results)


def test_outcomes_are_the_attacked_models_predictions():
    module = linear()
    x = images()
    y = agreeing_labels(module, x)
    suite = ImageAttackSuite(ImageAttackConfig(epsilon=0.3, **FAST), num_labels=10, progress=False)
    results = suite.run("pgd", Victim(module, 10), x, y)
    after = agreeing_labels(module, suite.adversarial_inputs(results))
    for r, p, label in zip(results, after, y):
        assert r.adversarial_prediction == p
        assert (r.outcome is Outcome.SUCCEEDED) == (p != label)
    assert sum(r.outcome is Outcome.SUCCEEDED for r in results) > len(results) // 2


def test_pgd_on_the_cross_entropy_is_blind_at_low_temperature_and_dlr_is_not():
    """The illusion's mechanism: at T = 1e-3 the float32 softmax saturates and PGD's gradient is 0;
    APGD-DLR's loss is a ratio of logit differences, which no temperature changes."""
    module = linear(scale=5.0)
    x = images(n=32)
    y = agreeing_labels(module, x)
    victim = Victim(module, 10)
    suite = ImageAttackSuite(ImageAttackConfig(epsilon=0.2, **FAST), num_labels=10, progress=False)

    def robust(name, model):
        return np.mean([r.outcome is Outcome.FAILED for r in suite.run(name, model, x, y)])

    cold = TemperatureScaled(victim, 1e-3)
    assert robust("pgd", cold) >= robust("pgd", victim) + 0.5
    assert robust("apgd-dlr", cold) == pytest.approx(robust("apgd-dlr", victim), abs=0.1)


def test_a_saturated_softmax_gives_exactly_zero_input_gradients():
    module = linear(scale=5.0)
    x = images(n=32)
    y = agreeing_labels(module, x)
    suite = ImageAttackSuite(ImageAttackConfig(epsilon=0.1), num_labels=10, progress=False)
    victim = Victim(module, 10)
    warm = suite.input_gradient_norms(victim, x, y)
    cold = suite.input_gradient_norms(TemperatureScaled(victim, 1e-3), x, y)
    assert (warm > 0).all()
    assert (cold == 0).mean() >= 0.9
    result = gradient_diagnostic(suite, TemperatureScaled(victim, 1e-3), x, y, {"cal": 1e3, "opt": None})
    assert result["served"]["zero_fraction"] == (cold == 0).mean()
    assert result["cal"]["zero_fraction"] == 0.0 and result["opt"] is None
    assert [f.code for f in gradient_flags(result)] == ["zero-gradients"]
    assert gradient_flags({"served": summarize_gradient_norms(warm)}) == []


def test_temperature_module_never_reorders_logits_and_matches_the_numpy_wrapper():
    module = tiny_cnn()
    x = torch.from_numpy(images())
    raw = module(x).detach()
    for temperature in (1e-3, 0.5, 7.0, 1e6):
        scaled = TemperatureScaledModule(module, temperature)(x).detach()
        greater = raw.unsqueeze(2) > raw.unsqueeze(1)  # [N, C, C]: logit i above logit j
        assert (scaled.unsqueeze(2) >= scaled.unsqueeze(1))[greater].all()
        assert torch.equal(scaled.argmax(1), raw.argmax(1))
        numpy_path = TemperatureScaled(Victim(module, 10), temperature).logits(x.numpy())
        assert np.array_equal(scaled.numpy(), numpy_path)


def test_temperature_chain_reapplies_divisions_in_float32_order():
    victim = Victim(tiny_cnn(), 10)
    served = TemperatureScaled(TemperatureScaled(victim, 0.3), 7.0)
    base, temps = temperature_chain(served)
    assert base is victim and temps == (7.0, 0.3)
    x = images()
    assert np.array_equal(apply_temperatures(victim.logits(x), temps), served.logits(x))
    module_chain = served.torch_module
    assert isinstance(module_chain, TemperatureScaledModule)
    assert np.array_equal(module_chain(torch.from_numpy(x)).detach().numpy(), served.logits(x))


def test_names_defaults_and_hyperparameters():
    assert canonical_attack("AA") == "autoattack" and canonical_attack("apgd") == "apgd-ce"
    assert default_epsilon("fashion-mnist", (1, 28, 28)) == 0.1
    assert default_epsilon("cifar10", (3, 32, 32)) == pytest.approx(8 / 255)
    suite = ImageAttackSuite(ImageAttackConfig(epsilon=0.1, pgd_steps=40), num_labels=10)
    params = suite.hyperparameters("pgd")
    assert params["steps"] == 40 and params["step_size"] == pytest.approx(2.5 * 0.1 / 40)
    assert suite.hyperparameters("aa")["parts"] == ["apgd-ce", "apgd-t", "fab-t", "square"]


def test_dlr_attacks_refuse_too_few_classes():
    two = ImageAttackSuite(ImageAttackConfig(epsilon=0.1), num_labels=2)
    with pytest.raises(ValueError, match="apgd-dlr needs at least 3 classes"):
        two.canonical("apgd-dlr")
    three = ImageAttackSuite(ImageAttackConfig(epsilon=0.1), num_labels=3)
    assert three.canonical("apgd-dlr") == "apgd-dlr"
    with pytest.raises(ValueError, match="autoattack needs at least 4 classes"):
        three.canonical("autoattack")


@pytest.mark.parametrize("kwargs, message", [
    ({"epsilon": 0.0}, "epsilon must be in"),
    ({"epsilon": -0.1}, "epsilon must be in"),
    ({"epsilon": 2.0}, "epsilon must be in"),
    ({"epsilon": 0.1, "pgd_steps": 0}, "pgd_steps must be an int >= 1"),
])
def test_bad_budgets_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageAttackConfig(**kwargs)


def test_bad_images_and_labels_are_one_line_errors():
    suite = ImageAttackSuite(ImageAttackConfig(epsilon=0.1), num_labels=10, progress=False)
    victim = Victim(tiny_cnn(), 10)
    x = images(n=4)
    with pytest.raises(ValueError, match=r"images must have shape \[N, C, H, W\]"):
        suite.run("pgd", victim, x[0], [0])
    with pytest.raises(ValueError, match=r"pixel values must lie in \[0, 1\]"):
        suite.run("pgd", victim, x * 255, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="labels out of range"):
        suite.run("pgd", victim, x, [0, 1, 2, 10])
    with pytest.raises(ValueError, match="unknown image attack"):
        suite.run("pgdd", victim, x, [0, 1, 2, 3])


def test_tiny_gradients_are_not_counted_as_zero():
    """A float32 norm underflows to 0 below ~3e-23 per entry, yet PGD's sign step still moves there."""
    from ior.audit.gradients import gradient_norms

    grad = torch.zeros(3, 1, 4, 4)
    grad[1, 0, 0, 0] = 1e-30
    grad[2] = 1e-25
    assert torch.linalg.vector_norm(grad[2].reshape(-1)) == 0  # what float32 would report
    norms = gradient_norms(grad)
    assert norms[0] == 0 and norms[1] > 0 and norms[2] > 0
    assert summarize_gradient_norms(norms)["zero_fraction"] == pytest.approx(1 / 3)
