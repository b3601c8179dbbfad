"""Training methods of ``ior train --method``: PGD, FreeLB, ASCC, DDi-AT, dg-aug, on a tiny BERT."""

import contextlib
import io
import json
import math

import numpy as np
import pytest
import torch

from conftest import make_tiny_bert
from ior.attacks.testing import BagOfWordsVictim, FakeWordNet
from ior.cli.main import main
from ior.data.loaders import TextDataset
from ior.models.victim import load_sequence_classifier
from ior.training.adversarial import (
    PGD,
    TrainingMethod,
    embed_tokens,
    init_perturbation,
    logits_from_embeddings,
    perturbation_norms,
    project_l2,
)
from ior.training.ascc import ASCC, EmbeddingSynonyms, SynonymTable, WordNetSynonyms, convex_weights
from ior.training.augmentation import deepwordbug_augment
from ior.training.config import METHODS, TrainConfig
from ior.training.ddi import DDi, ddi_direction, frank_wolfe_min_norm, min_norm_point
from ior.training.gradients import global_grad_norm
from ior.training.trainer import train, trained_config, training_method

POS = ["a wonderful , moving film", "great acting and a fine story", "a joy to watch", "brilliant and funny"]
NEG = ["a dull , lifeless film", "terrible acting and a weak story", "a chore to sit through", "boring and flat"]
WORDNET = FakeWordNet({
    "wonderful": [["wonderful", "fantastic", "marvelous"]], "film": [["film", "movie", "motion_picture"]],
    "great": [["great", "big", "good"]], "dull": [["dull", "boring"]], "terrible": [["terrible", "awful"]],
    "story": [["story", "tale"]], "moving": [["moving", "touching"]], "weak": [["weak", "feeble"]],
})
# The tiny BERT's token embeddings have norm ~0.1 (MiniLM's: ~1), so the paper's ball of radius 1
# would drown every word: the tests scale the adversary down with the model.
SMALL_BALL = dict(adv_lr=0.01, adv_init_mag=0.005, adv_max_norm=0.02)


def _data(split="train", repeat=4):
    return TextDataset(name="toy", split=split, texts=tuple((POS + NEG) * repeat),
                       labels=tuple(([1] * len(POS) + [0] * len(NEG)) * repeat),
                       label_names=("negative", "positive"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-methods"))


@pytest.fixture()
def model_and_batch(tiny):
    torch.manual_seed(0)
    model, tokenizer = load_sequence_classifier(tiny)
    # Uneven lengths, so that padding is present.
    batch = tokenizer(POS[:2] + NEG[2:], padding=True, return_tensors="pt")
    return model, tokenizer, batch, torch.tensor([1, 1, 0, 0])


# --- configuration -------------------------------------------------------------------------------

def test_unknown_method_is_rejected_naming_the_field_and_the_choices():
    with pytest.raises(ValueError, match=r"method must be one of \['standard', 'pgd', .*got 'fgsm'"):
        TrainConfig(model="m", method="fgsm")
    with pytest.raises(ValueError, match="ddi_normalization must be one of"):
        TrainConfig(model="m", method="ddi", ddi_normalization="l1")
    with pytest.raises(ValueError, match="adv_max_norm"):
        TrainConfig(model="m", method="pgd", adv_max_norm=0.0)
    with pytest.raises(ValueError, match="adv_steps"):
        TrainConfig(model="m", method="freelb", adv_steps=0)
    with pytest.raises(ValueError, match="augment_from .* required"):
        TrainConfig(model="m", method="dg-aug")
    with pytest.raises(ValueError, match="augment_from only applies"):
        TrainConfig(model="m", method="pgd", augment_from="runs/base")
    with pytest.raises(ValueError, match="method must be one of"):
        TrainConfig.from_dict({"model": "m", "method": "PGD"})


def test_cli_rejects_an_unknown_method_in_one_line(tmp_path):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(["train", "--out", str(tmp_path / "run"), "--method", "fgsm"])
    assert status == 2
    assert err.getvalue().count("\n") == 1 and "--method" in err.getvalue() and "'ddi'" in err.getvalue()
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("method", [m for m in METHODS if m != "standard"])
def test_method_configs_round_trip_and_change_the_fingerprint(method):
    extra = {"augment_from": "runs/base"} if method == "dg-aug" else {}
    config = TrainConfig(model="m", method=method, **extra)
    again = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.fingerprint() == config.fingerprint()
    assert config.fingerprint() != TrainConfig(model="m").fingerprint()
    assert config.fingerprint() != config.with_updates(temperature=100.0).fingerprint()


def test_fingerprint_ignores_other_methods_settings_and_keeps_old_runs():
    pgd = TrainConfig(model="m", method="pgd")
    assert pgd.with_updates(ddi_samples=5, ascc_beta=4.0).fingerprint() == pgd.fingerprint()
    assert pgd.with_updates(adv_lr=0.05).fingerprint() != pgd.fingerprint()
    ddi = TrainConfig(model="m", method="ddi")
    assert ddi.with_updates(ddi_normalization="clip").fingerprint() != ddi.fingerprint()
    # A standard config hashes exactly the fields that existed before training methods did.
    standard = TrainConfig(model="m", temperature=100.0, grad_norm=True)
    new = {"method", "adv_steps", "adv_lr", "adv_init_mag", "adv_max_norm", "ascc_alpha", "ascc_beta",
           "ascc_synonyms", "ascc_max_synonyms", "ddi_samples", "ddi_steps", "ddi_normalization",
           "ddi_clip_norm", "augment_from", "stop_train_loss", "stop_train_accuracy"}
    old = {k: v for k, v in standard.to_dict().items() if k not in new}
    import hashlib

    expected = hashlib.sha256(json.dumps(old, sort_keys=True, default=str).encode()).hexdigest()[:16]
    assert standard.fingerprint() == expected


# --- embedding-space perturbations ------------------------------------------------------------------

def test_projection_and_random_start_known_answers():
    delta = torch.zeros(2, 3, 4)
    delta[0, 0, 0], delta[1, 1, 1] = 3.0, 0.5
    projected = project_l2(delta, 1.0)
    assert perturbation_norms(projected).tolist() == pytest.approx([1.0, 0.5])
    assert projected[0, 0, 0] == pytest.approx(1.0)
    torch.manual_seed(0)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    start = init_perturbation(torch.zeros(2, 3, 4), mask, 0.05)
    assert (start[mask == 0] == 0).all()
    # Entries are U(-1, 1) * 0.05 / sqrt(n * D), so the norm is at most 0.05.
    assert (perturbation_norms(start) <= 0.05).all() and (perturbation_norms(start) > 0).all()


@pytest.mark.parametrize("method", ["pgd", "freelb", "ddi"])
def test_every_trained_perturbation_stays_in_its_ball_and_off_padding(model_and_batch, method):
    model, tokenizer, batch, target = model_and_batch
    seen = []
    hook = lambda delta, mask: seen.append((delta, mask))  # noqa: E731
    config = TrainConfig(model="m", method=method, adv_lr=0.03, adv_init_mag=0.05, adv_max_norm=0.05)
    result = training_method(config, tokenizer, hook=hook).backward(model, batch, target)
    expected = {"pgd": 1, "freelb": 5, "ddi": 3}[method]
    assert len(seen) == expected
    for delta, mask in seen:
        assert (perturbation_norms(delta) <= 0.05 * (1 + 1e-5)).all()
        assert (delta[mask == 0] == 0).all()
    # 5 (or 3) steps of 0.03 would leave a ball of radius 0.05: the projection is what holds them.
    assert max(float(perturbation_norms(d).max()) for d, _ in seen[-1:]) == pytest.approx(0.05, rel=1e-4)
    assert result.diagnostics["perturbation_norm_max"] <= 0.05 * (1 + 1e-5)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad and p.ndim == 2)


def test_pgd_perturbation_raises_the_loss_and_leaves_parameter_gradients_alone(model_and_batch):
    model, _, batch, target = model_and_batch
    model.eval()  # no dropout: compare like with like
    pgd = PGD(steps=5, step_size=0.03, init_mag=0.05, max_norm=1.0)
    delta = pgd.attack(model, batch, target)
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():
        embeds = embed_tokens(model, batch)
        clean = pgd.loss(logits_from_embeddings(model, embeds, batch), target)
        adversarial = pgd.loss(logits_from_embeddings(model, embeds + delta, batch), target)
    assert adversarial > clean + 1e-3


@pytest.mark.parametrize("method", ["standard", "pgd", "freelb", "ascc", "ddi"])
def test_the_training_temperature_divides_the_logits_in_every_loss(model_and_batch, method):
    model, tokenizer, batch, target = model_and_batch
    model.eval()
    with torch.no_grad():
        model.classifier.weight.mul_(2000.0)  # logits of order 10: far from log 2 at T = 1
    losses = {}
    for t in (1.0, 1e6):
        config = TrainConfig(model="m", method=method, temperature=t)
        model.zero_grad(set_to_none=True)
        losses[t] = training_method(config, tokenizer, synonyms=WORDNET).backward(model, batch, target).loss
    assert abs(losses[1.0] - math.log(2)) > 0.1
    assert losses[1e6] == pytest.approx(math.log(2), abs=1e-4)  # every loss, KL terms included, is flat


# --- DDi ----------------------------------------------------------------------------------------------

def _brute_force_min_norm(gram, steps=400):
    """Smallest alpha^T K alpha over a dense grid of the simplex, edges and vertices included."""
    m = len(gram)
    grid = np.linspace(0.0, 1.0, steps + 1)
    if m == 2:
        points = np.stack([grid, 1 - grid], axis=1)
    else:
        a, b = np.meshgrid(grid, grid, indexing="ij")
        keep = a + b <= 1 + 1e-12
        points = np.stack([a[keep], b[keep], np.clip(1 - a[keep] - b[keep], 0, None)], axis=1)
    values = np.einsum("ni,ij,nj->n", points, gram, points)
    return points[np.argmin(values)], float(values.min())


def _cases(m, seed):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(5, m))
    yield g
    yield g[:, [0] * m]  # identical gradients: any alpha is optimal
    collinear = np.outer(rng.normal(size=5), rng.uniform(0.5, 2.0, size=m))
    yield collinear  # same direction, different lengths: the shortest vertex
    opposed = g.copy()
    opposed[:, 1] = -2.0 * g[:, 0]
    yield opposed  # the hull contains 0
    with_zero = g.copy()
    with_zero[:, -1] = 0.0
    yield with_zero


@pytest.mark.parametrize("m", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_min_norm_point_lies_on_the_simplex_and_matches_brute_force(m, seed):
    for g in _cases(m, seed):
        gram = g.T @ g
        alpha = min_norm_point(gram)
        assert alpha.shape == (m,) and (alpha >= 0).all() and alpha.sum() == pytest.approx(1.0)
        _, best = _brute_force_min_norm(gram)
        value = float(alpha @ gram @ alpha)
        assert value <= best + 1e-9  # the grid only approximates the true minimum from above
        assert value >= best - 1e-3 * max(1.0, float(np.diag(gram).max()))


def test_min_norm_point_known_answers():
    # Two orthogonal unit vectors: the midpoint. g2 = 2 g1: the shorter vertex. M = 2 closed form.
    assert min_norm_point(np.eye(2)) == pytest.approx([0.5, 0.5])
    assert min_norm_point([[1.0, 2.0], [2.0, 4.0]]) == pytest.approx([1.0, 0.0])
    rng = np.random.default_rng(7)
    for _ in range(20):
        g1, g2 = rng.normal(size=(2, 6))
        t = np.clip((g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2)), 0, 1)
        gram = np.stack([g1, g2]) @ np.stack([g1, g2]).T
        assert min_norm_point(gram) == pytest.approx([t, 1 - t], abs=1e-8)
    with pytest.raises(ValueError, match="square"):
        min_norm_point(np.ones((2, 3)))
    with pytest.raises(ValueError, match="method must be one of"):
        min_norm_point(np.eye(2), method="qp")


@pytest.mark.parametrize("m", [3, 4, 6])
def test_frank_wolfe_agrees_with_the_exact_solver(m):
    rng = np.random.default_rng(m)
    for _ in range(5):
        g = rng.normal(size=(4, m))  # more gradients than dimensions for m = 6: 0 may be in the hull
        gram = g.T @ g
        exact, fw = min_norm_point(gram, method="exact"), frank_wolfe_min_norm(gram)
        assert (fw >= 0).all() and fw.sum() == pytest.approx(1.0)
        assert float(fw @ gram @ fw) == pytest.approx(float(exact @ gram @ exact), abs=1e-8)


def test_ddi_direction_is_g_alpha_with_the_chosen_normalization():
    torch.manual_seed(0)
    grads = [[torch.randn(3, 2), torch.randn(4)] for _ in range(3)]
    flat = torch.stack([torch.cat([t.reshape(-1) for t in g]) for g in grads]).double()
    raw, alpha, norm = ddi_direction(grads, normalization="none")
    expected = torch.from_numpy(alpha) @ flat
    assert torch.cat([d.reshape(-1) for d in raw]).double() == pytest.approx(expected, abs=1e-6)
    assert norm == pytest.approx(float(expected.norm()), rel=1e-6)
    unit, _, _ = ddi_direction(grads, normalization="normalize")
    assert float(torch.cat([d.reshape(-1) for d in unit]).norm()) == pytest.approx(1.0, rel=1e-6)
    clipped, _, _ = ddi_direction(grads, normalization="clip", clip_norm=norm / 2)
    assert float(torch.cat([d.reshape(-1) for d in clipped]).norm()) == pytest.approx(norm / 2, rel=1e-5)
    kept, _, _ = ddi_direction(grads, normalization="clip", clip_norm=norm * 2)
    assert float(torch.cat([d.reshape(-1) for d in kept]).norm()) == pytest.approx(norm, rel=1e-5)


@pytest.mark.parametrize("normalization", ["normalize", "none"])
def test_ddi_step_writes_a_unit_direction_when_normalizing(model_and_batch, normalization):
    model, _, batch, target = model_and_batch
    ddi = DDi(samples=3, steps=3, step_size=0.03, init_mag=0.05, max_norm=1.0, normalization=normalization)
    result = ddi.backward(model, batch, target)
    alpha = np.asarray(result.diagnostics["alpha"])
    assert alpha.shape == (3,) and (alpha >= 0).all() and alpha.sum() == pytest.approx(1.0)
    norm = float(global_grad_norm([p for p in model.parameters() if p.requires_grad]))
    if normalization == "normalize":
        assert norm == pytest.approx(1.0, rel=1e-5)
    else:
        assert norm == pytest.approx(result.diagnostics["direction_norm"], rel=1e-5)
    assert result.loss == pytest.approx(max(result.diagnostics["losses"]))


# --- ASCC ---------------------------------------------------------------------------------------------

def test_synonym_table_keeps_whole_single_token_words(model_and_batch):
    _, tokenizer, _, _ = model_and_batch
    table = SynonymTable(tokenizer, WORDNET, max_synonyms=8)
    vocab = tokenizer.get_vocab()
    film = table.synonym_ids(vocab["film"])
    assert [tokenizer.convert_ids_to_tokens(i) for i in film] == ["movie"]  # "motion_picture" dropped
    assert table.synonym_ids(vocab["the"]) == ()  # stopword
    assert table.synonym_ids(tokenizer.cls_token_id) == ()
    assert len(SynonymTable(tokenizer, WORDNET, max_synonyms=1).synonym_ids(vocab["wonderful"])) == 1
    # A word split into pieces is not swapped: neither its first piece nor the rest.
    enc = tokenizer(["a wonderfulness film"], return_tensors="pt")
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    ids, valid = table.candidates(enc["input_ids"], enc["attention_mask"])
    swappable = {t for t, v in zip(tokens, valid[0, :, 1:].any(-1).tolist()) if v}
    assert tokens[2] == "wonderful" and tokens[3].startswith("##")
    assert swappable == {"film"}
    assert (ids[..., 0] == enc["input_ids"]).all() and valid[..., 0].all()


def test_embedding_synonyms_use_close_neighbours_only():
    from ior.resources.embeddings import WordEmbedding

    emb = WordEmbedding(["film", "movie", "picture", "banana"],
                        [[1.0, 0.0], [0.99, 0.1], [0.8, 0.6], [0.0, 1.0]])
    assert EmbeddingSynonyms(emb, min_cos_sim=0.75).synonyms("Film") == ["movie", "picture"]
    assert EmbeddingSynonyms(emb, min_cos_sim=0.9).synonyms("film") == ["movie"]
    assert EmbeddingSynonyms(emb).synonyms("unknown") == []
    assert WordNetSynonyms(WORDNET).synonyms("film") == ["movie"]


def test_ascc_adversary_is_a_convex_combination_of_synonyms(model_and_batch):
    model, tokenizer, batch, target = model_and_batch
    ascc = ASCC(SynonymTable(tokenizer, WORDNET), alpha=10.0, beta=40.0, steps=5)
    result = ascc.backward(model, batch, target)
    weights, valid = ascc.last_weights, ascc.last_valid
    assert weights.sum(-1) == pytest.approx(torch.ones(weights.shape[:2]), abs=1e-5)
    assert (weights >= 0).all() and (weights[~valid] == 0).all()
    assert (weights[~valid[..., 1:].any(-1)][:, 0] == pytest.approx(1.0))  # no synonym: the word itself
    assert result.diagnostics["swappable_tokens"] >= 3  # wonderful, moving, film, great, story, ...
    assert result.loss == pytest.approx(result.diagnostics["clean_loss"] + 40.0 * result.diagnostics["kl"],
                                        rel=1e-5)
    assert convex_weights(torch.zeros(1, 1, 3), torch.tensor([[[True, True, False]]])).tolist() == \
        [[[0.5, 0.5, 0.0]]]


# --- training end to end ------------------------------------------------------------------------------

@pytest.mark.parametrize("method, options", [
    ("pgd", {}),
    ("freelb", {"temperature": 10.0, "grad_clip": 1.0}),
    ("ascc", {"grad_norm": True, "learning_rate": 3e-3, "epochs": 10}),  # spiky at lr 1e-2 with beta = 40
    ("ddi", {}),
    ("ddi", {"ddi_normalization": "clip", "ddi_clip_norm": 0.5, "temperature": 10.0}),
])
def test_adversarial_training_lowers_the_loss_on_a_separable_toy_task(tiny, tmp_path, method, options):
    settings = dict(learning_rate=1e-2, batch_size=8, epochs=8, max_length=16, seed=0, **SMALL_BALL)
    config = TrainConfig(model=tiny, preset="custom", method=method, **{**settings, **options})
    metrics = train(config, _data(), tmp_path / "run", progress=False, synonyms=WORDNET)
    losses = [h["train_loss"] for h in metrics["history"]]
    assert losses[-1] < losses[0] - 0.1
    saved = trained_config(tmp_path / "run")
    assert saved["train"]["method"] == method and saved["config_fingerprint"] == config.fingerprint()
    assert TrainConfig.from_dict(saved["train"]) == config


def test_deepwordbug_augmentation_adds_one_twin_per_example():
    victim = BagOfWordsVictim({"good": [0.0, 2.0], "fun": [0.0, 2.0]}, bias=[1.0, 0.0])
    texts, labels = ["good film", "good and fun", "a film"], [1, 1, 1]
    aug = deepwordbug_augment(texts, labels, victim, seed=0)
    assert aug.texts[:3] == tuple(texts) and aug.labels == (1, 1, 1) * 2
    s = aug.summary
    assert (s["n_adversarial"], s["n_skipped"], s["n_original"]) == (2, 1, 3)  # "a film" is misclassified
    assert aug.texts[3] != "good film" and aug.texts[4] != "good and fun" and aug.texts[5] == "a film"
    assert victim.logits(list(aug.texts[3:5])).argmax(axis=1).tolist() == [0, 0]


def test_dg_aug_trains_twice_the_steps_on_the_augmented_set(tiny, tmp_path):
    base = TrainConfig(model=tiny, preset="custom", learning_rate=5e-3, batch_size=8, epochs=8,
                       max_length=16, seed=0)
    train(base, _data(repeat=2), tmp_path / "base", progress=False)
    config = base.with_updates(method="dg-aug", augment_from=str(tmp_path / "base"), epochs=2)
    metrics = train(config, _data(repeat=2), tmp_path / "aug", progress=False)
    aug = metrics["augmentation"]
    assert metrics["n_train"] == 32 and aug["n_original"] == 16
    assert aug["n_adversarial"] + aug["n_failed"] + aug["n_skipped"] == 16
    assert aug["source_weights_sha256"] == json.loads((tmp_path / "base" / "metrics.json").read_text())[
        "weights_sha256"]
    assert metrics["final"]["step"] == 2 * 2 * 2  # 2 epochs of 32 examples in batches of 8: twice 2 x 2


def test_cli_trains_with_a_method_and_its_options(tiny, tmp_path):
    rows = [{"text": t, "label": y} for t, y in zip(_data(repeat=1).texts, _data(repeat=1).labels)]
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, err = io.StringIO(), io.StringIO()
    argv = ["train", "--model", tiny, "--dataset", data, "--out", tmp_path / "run", "--epochs", 1,
            "--batch-size", 8, "--max-length", 16, "--no-progress", "--method", "ddi", "--ddi-samples", 2,
            "--ddi-normalization", "clip", "--adv-max-norm", 0.02, "--ascc-beta", 4, "--grad-norm"]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    assert status == 0, err.getvalue()
    assert "--ascc-beta" in err.getvalue()  # warned: it does not apply to ddi
    saved = trained_config(tmp_path / "run")["train"]
    assert (saved["method"], saved["ddi_samples"], saved["ddi_normalization"], saved["adv_max_norm"],
            saved["grad_norm"]) == ("ddi", 2, "clip", 0.02, True)


def test_standard_method_is_plain_cross_entropy(model_and_batch):
    model, _, batch, target = model_and_batch
    model.eval()
    result = TrainingMethod(temperature=3.0).backward(model, batch, target)
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(model(**batch).logits / 3.0, target)
    assert result.loss == pytest.approx(float(expected), rel=1e-6)
