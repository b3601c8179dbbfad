"""The gradient diagnostic on text: gradients with respect to the input token embeddings."""

import numpy as np

from ior.attacks.suite import TextAttackSuite
from ior.models.temperature import TemperatureScaled
from ior.models.victim import TextClassifier

TEXTS = ["a gripping, funny film", "dull and far too long", "the cast is wonderful", "i want my money back"]


def test_text_input_gradients_vanish_when_the_served_softmax_saturates(tiny_bert):
    classifier = TextClassifier.from_pretrained(tiny_bert)
    labels = classifier.logits(TEXTS).argmax(axis=1)
    suite = TextAttackSuite(progress=False)
    warm = suite.input_gradient_norms(classifier, TEXTS, labels)
    cold = suite.input_gradient_norms(TemperatureScaled(classifier, 1e-7), TEXTS, labels)
    assert warm.shape == (4,) and warm.dtype == np.float64
    assert (warm > 0).all()
    assert (cold == 0).all()
    # Undoing the serving temperature restores the gradient: what `cal` gives the attack.
    pierced = suite.input_gradient_norms(TemperatureScaled(TemperatureScaled(classifier, 1e-7), 1e7), TEXTS, labels)
    assert (pierced > 0).all()

