"""Random, non-trivial weights for the whole-model reference tests: a built model's trainable
variables from a seeded rng, so that no term of the forward pass hides behind an init value."""
import numpy as np


def randomize(model, seed: int, positive_bias_scope: str):
    """Embeddings N(0, 1); the biases of the layers whose variable path contains
    ``positive_bias_scope`` (the MLP's hidden layers) U(0.2, 0.8), so that no example has a
    layer of dead ReLUs; everything else N(0, 0.6). Returns the model."""
    rng = np.random.default_rng(seed)
    for var in model.trainable_variables:
        name = var.name.split("/")[-1]
        if name.startswith("embeddings"):
            value = rng.normal(0.0, 1.0, var.shape)
        elif positive_bias_scope in var.name and name.startswith("bias"):
            value = rng.uniform(0.2, 0.8, var.shape)
        else:
            value = rng.normal(0.0, 0.6, var.shape)
        var.assign(np.asarray(value, np.float32))
    return model
