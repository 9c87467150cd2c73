"""MuSENet -- multi-scenario learning for repeat-aware personalized recommendation (Xu et al.,
WSDM'23; ../shared/papers/musenet_wsdm23.txt).

Inputs: :func:`tfrec_pkg.specs.scenario_click`, a sample x = [p_u, B_u, b_t, o_u] (Sec. 2.2).
Forward pass (index features):

    p_u  = [E_user[u] || E_gender || E_age || E_level]                 user profile
    b_t  = [E_item[t] || E_cat[c]]                                     target item
    B_u  = mean_j [E_item[h_j] || E_cat[hc_j]]                         behaviours, target-free (p_r)
    B_u^t = sum_j att(b_t, e_j) e_j                                    behaviours, target-aware (DIN)
    o_u  = [E_slot[slot] || price, distance, lead_time]                context
    x    = [p_u || B_u^t || b_t || o_u]                                the sample embedding
    Q_s, a = ScenarioLearner(x)                                        Eqs. (3), (4), (7)
    p_r^k, s_r^k, s_e^k, z_k = RepeatAwareHead_k(p_u, B_u, b_t, o_u, I[t in B_u])   Eq. (9)
    y    = sigmoid(sum_k a_k z_k)                                      Sec. 3.2.3 (hard: a one-hot)
    L    = L_T (Eq. 11) + D_KL (Eq. 12) + beta L_A (Eq. 10)            Eq. (13)

and after each training step the prototypes move by Eq. (14) (the step's own a and f_omega(x);
the prototypes are outside the gradient), the alternating optimisation of Sec. 3.2.4 with the
two steps in the order gradient step, then prototype update, on one forward pass.

Readings taken (the paper is silent):

* **B_u's encoding.** The paper does not say how B_u is encoded. s_r and s_e read a DIN-style
  target-aware attention pooling (the library's :class:`TargetAttentionPooling`, BaseModel's);
  the intention p_r must not see the target item ("p_r = sigma(MLP([p_u, B_u, o_u]))"), so it
  reads the mean of the behaviour embeddings.
* **I[t in B_u]** is computed in the graph from the index features; an unknown (OOV) target is
  never a repeat (two unknown ids share the OOV index and need not be the same item).
* **Numeric context** enters as raw values (the planted generator draws them on unit scale);
  standardise real features before they reach the model.
* **Ablations (Table 3)** are configs: ``use_repeat=False`` (w/o M2: one scoring MLP per
  scenario, no L_A); ``learn_scenarios=False`` takes a = one-hot of the ``predefined_scenario``
  feature ("on predefined scenarios"; ``num_scenarios`` must then count the predefined
  segments; an unknown segment gets the uniform a) and drops D_KL; w/o M1&M2 is
  ``learn_scenarios=False, use_repeat=False, num_scenarios=1``.
* **The hard version's training assignment.** Eq. (4) puts each sample in one scenario, and
  Eq. (7) relaxes a to the Gumbel-softmax sample so that omega gets a gradient. By default
  (``straight_through=True``) the forward pass uses the one-hot arg-max of that sample (each
  training sample in one scenario, as Eq. (4) and inference have it) and the backward pass
  Eq. (7)'s gradient: the straight-through Gumbel-softmax estimator of the paper's reference
  [14] (Jang et al., Sec. 2.2). ``straight_through=False`` feeds Eq. (7)'s relaxed sample
  forward, as printed. Chosen after a claims record on the relaxed sample, whose hard rows failed
  (CLAIMS.md, 2026-12-06), on seeds it did not use (5-9, full-size planted data): test AUC 0.6914,
  0.7211, 0.6705, 0.7763, 0.7495 relaxed against 0.7326, 0.7279, 0.7164, 0.7689, 0.7526
  straight-through, NMI with the planted scenarios 0.50, 0.76, 0.46, 1.00, 0.83 against 0.92,
  0.79, 0.74, 0.99, 0.86.
* **The KL term** is Eq. (12) as printed, on the training assignment a (for the hard version
  the Gumbel sample; straight-through, its value is log K and its gradient Eq. (7)'s): a
  per-sample KL to the uniform prior, which at weight 1 pulls every sample's soft assignment
  towards 1/K (on small planted data D_KL fell to 0.02 within five epochs). ``kl="marginal"``
  takes the KL of the batch's mean assignment instead, which keeps the scenarios in use without
  flattening each sample's assignment. The claims run uses the printed per-sample KL; CLAIMS.md's
  change log gives pilots of both readings (the marginal one did not keep the scenarios apart at
  full size either).
"""
from __future__ import annotations

import dataclasses
import threading

import tensorflow as tf

from tfrec_pkg import specs
from tfrec_pkg.config import Config
from tfrec_pkg.features import NUM_RESERVED, PAD_INDEX, signature
from tfrec_pkg.layers.attention import TargetAttentionPooling
from tfrec_pkg.layers.scenario import RepeatAwareHead, ScenarioLearner, kl_to_uniform, repeat_loss
from tfrec_pkg.models import registry
from tfrec_pkg.models.endpoint import Endpoint
from tfrec_pkg.models.recmodel import RecModel, click_task

__all__ = ["MuSENet", "MuSENetConfig"]

VERSIONS = ("soft", "hard")


@dataclasses.dataclass
class MuSENetConfig(Config):
    max_history: int = 20
    user_dim: int = 16
    item_dim: int = 16
    category_dim: int = 8
    profile_dim: int = 4           # each categorical profile and context field
    # names of the numeric context fields (context_<name>): the planted data's; the Alimama
    # reader's are tfrec_pkg.data.datasets.alimama.CONTEXT_NUMERIC
    context_numeric: tuple = specs.CONTEXT_NUMERIC
    attention_units: tuple = (80, 40)  # DIN's activation unit for B_u^t
    head_units: tuple = (64, 32)   # each MLP of the repeat-aware heads
    version: str = "soft"          # "soft" | "hard" (Sec. 3.1.1)
    num_scenarios: int = 4         # K (Sec. 4.1)
    projection_dim: int | None = None  # width of f_omega(x); None: the width of x
    distance: str = "squared_euclidean"
    tau: float = 0.1               # Gumbel-softmax temperature (Sec. 3.2.1)
    alpha: float = 0.2             # prototype update rate, Eq. (14)
    straight_through: bool = True  # hard version: one-hot a forward, Eq. (7)'s gradient (docstring)
    beta: float = 0.5              # weight of L_A (Sec. 4.1)
    kl: str = "per_sample"         # Eq. (12) as printed | "marginal": KL of the batch's mean assignment
    use_repeat: bool = True        # M2
    learn_scenarios: bool = True   # M1
    learning_rate: float = 1e-3    # Adam (Sec. 4.1)
    batch_size: int = 256
    epochs: int = 10               # upper bound; early stopping on validation AUC

    def __post_init__(self):
        self.check_positive_ints("max_history", "user_dim", "item_dim", "category_dim", "profile_dim",
                                 "num_scenarios", "batch_size", "epochs")
        self.check_units("attention_units", "head_units")
        if self.kl not in ("per_sample", "marginal"):
            raise ValueError(f"kl must be 'per_sample' or 'marginal', got {self.kl!r}")
        if self.version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, got {self.version!r}")
        if not self.beta >= 0:
            raise ValueError(f"beta must be >= 0, got {self.beta!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")


class MuSENet(RecModel):
    config_class = MuSENetConfig
    loss_names = ("bce", "kl", "repeat")
    early_stopping_monitor = "val_auc"

    def __init__(self, config: MuSENetConfig | None = None, vocab=None, name=None):
        config = config or MuSENetConfig()
        super().__init__(config, vocab or {}, name=name or "musenet")
        c = config
        embed = lambda vocab_name, dim: tf.keras.layers.Embedding(self.vocab[vocab_name].size, dim,  # noqa: E731
                                                                  name=f"{vocab_name}_embedding")
        self.user_embedding = embed("user", c.user_dim)
        self.item_embedding = embed("item", c.item_dim)
        self.category_embedding = embed("category", c.category_dim)
        self.profile_embeddings = {name: embed(name, c.profile_dim) for name in specs.PROFILE_FIELDS}
        self.context_embeddings = {name: embed(name, c.profile_dim) for name in specs.CONTEXT_CATEGORICAL}
        self.attention = TargetAttentionPooling(c.attention_units, normalize="none", name="behaviour_attention")
        if c.learn_scenarios:
            self.scenario = ScenarioLearner(c.num_scenarios, projection_dim=c.projection_dim, distance=c.distance,
                                            hard=c.version == "hard", tau=c.tau, alpha=c.alpha,
                                            straight_through=c.straight_through, name="scenario_learner")
        self.heads = RepeatAwareHead(c.num_scenarios, c.head_units, repeat_aware=c.use_repeat, name="heads")
        self.task = click_task()
        self.clustering_tracker = tf.keras.metrics.Mean(name="clustering")  # L_C, Eq. (8), reported
        # the training step's forward outputs, for Eq. (14) after the gradient step; set past
        # Keras' attribute tracking, so that no graph tensor is ever saved with the model. One
        # slot per thread: MirroredStrategy runs each local replica's step in a thread of its
        # own, and the replicas' steps interleave (each waits for the others at every
        # all-reduce), so a shared slot would hand replica 0 replica 1's outputs.
        object.__setattr__(self, "_step_outputs", threading.local())

    @property
    def feature_spec(self):
        return specs.scenario_click(self.config.max_history, context_numeric=self.config.context_numeric)

    @property
    def serving_spec(self):
        """The feature spec without the training-only repeat label."""
        return [s for s in self.feature_spec if s.name != "repeat_label"]

    # --- forward (index features) ----------------------------------------------------------
    def encode(self, f, training=False) -> dict[str, tf.Tensor]:
        """Index features -> {"logit", "scenario_probs" [B, K], "assignment" [B, K],
        "repeat_prob" [B] (sum_k a_k p_r^k), and the heads' and scenario learner's outputs}."""
        c = self.config
        p_u = tf.concat([self.user_embedding(f["user_id"])]
                        + [self.profile_embeddings[n](f[f"profile_{n}"]) for n in specs.PROFILE_FIELDS], -1)
        b_t = tf.concat([self.item_embedding(f["item_id"]), self.category_embedding(f["category_id"])], -1)
        behaviours = tf.concat([self.item_embedding(f["hist_item_ids"]),
                                self.category_embedding(f["hist_category_ids"])], -1)           # [B, L, e]
        mask = tf.not_equal(f["hist_item_ids"], PAD_INDEX)
        weights = tf.cast(mask, behaviours.dtype)[..., None]
        b_mean = tf.reduce_sum(behaviours * weights, 1) / tf.maximum(tf.reduce_sum(weights, 1), 1.0)
        b_aware, _ = self.attention(b_t, behaviours, mask)
        o_u = tf.concat([self.context_embeddings[n](f[f"context_{n}"]) for n in specs.CONTEXT_CATEGORICAL]
                        + [tf.cast(f[f"context_{n}"], tf.float32)[:, None] for n in c.context_numeric], -1)
        is_repeat = tf.reduce_any(tf.equal(f["hist_item_ids"], f["item_id"][:, None]) & mask, -1) & (
            f["item_id"] >= NUM_RESERVED)
        out = self.heads(p_u, b_mean, b_t, o_u, is_repeat, target_behaviour=b_aware)
        if c.learn_scenarios:
            scen = self.scenario(tf.concat([p_u, b_aware, b_t, o_u], -1), training=training)
            probs, a = scen["probs"], scen["assignment"]
            out.update(projected=scen["projected"], clustering_loss=scen["clustering_loss"])
        else:
            probs = a = self._predefined(f["predefined_scenario"])
        # Sec. 3.2.3: soft y = sigma(sum_k a_k z_k); hard: a is one-hot, y = sigma(z_k*)
        out.update(logit=tf.reduce_sum(a * out["z"], -1), scenario_probs=probs, assignment=a,
                   is_repeat=is_repeat)
        if c.use_repeat:  # per scenario p_r^k -> "repeat_probs"; "repeat_prob" = sum_k a_k p_r^k
            out["repeat_probs"] = out.pop("repeat_prob")
            out["repeat_prob"] = tf.reduce_sum(a * out["repeat_probs"], -1)
        return out

    def _predefined(self, index):
        """One-hot of the predefined segment (vocabulary index - NUM_RESERVED); uniform for an
        unknown or missing segment; one scenario: all ones."""
        k = self.config.num_scenarios
        if k == 1:
            return tf.ones([tf.shape(index)[0], 1])
        known = index >= NUM_RESERVED
        one_hot = tf.one_hot(tf.clip_by_value(index - NUM_RESERVED, 0, k - 1), k)
        return tf.where(known[:, None], one_hot, tf.fill(tf.shape(one_hot), 1.0 / k))

    def call_indexed(self, features, training=False):
        return tf.sigmoid(self.encode(features, training)["logit"])

    def loss_terms(self, features, training=False):
        out = self.encode(self.map_ids(features), training)
        self._step_outputs.out = out  # read by train_step for Eq. (14)
        bce = self.task(labels=features["label"][:, None], predictions=out["logit"][:, None],
                        training=training)                                                    # Eq. (11)
        zero = tf.constant(0.0)
        kl = (kl_to_uniform(out["assignment"], marginal=self.config.kl == "marginal")
              if self.config.learn_scenarios else zero)                                          # Eq. (12)
        rep = (self.config.beta * repeat_loss(features["repeat_label"], out["repeat_probs"], out["assignment"])
               if self.config.use_repeat else zero)                                           # beta L_A, Eq. (10)
        return {"bce": bce, "kl": kl, "repeat": rep}

    def train_step(self, inputs):
        logs = super().train_step(inputs)   # Step 2 (back-propagation) on this forward pass
        out = self._step_outputs.out
        if self.config.learn_scenarios:     # Step 1: Eq. (14), outside the gradient
            self.scenario.update_prototypes(out["projected"], out["assignment"])
            self.clustering_tracker.update_state(out["clustering_loss"])
            logs["clustering"] = self.clustering_tracker.result()
        return logs

    # --- serving ---------------------------------------------------------------------------
    def explain(self, features) -> dict[str, tf.Tensor]:
        """Raw features -> {"score", "scenario_probs" [B, K] (Q_s; the predefined one-hot when
        scenarios are not learned), "repeat_prob" [B] (sum_k a_k p_r^k; absent w/o M2)}."""
        return self._served(self.map_ids(features))

    def _served(self, features):
        out = self.encode(features, training=False)   # no Gumbel noise: Eq. (4)'s arg-max when hard
        served = {"score": tf.sigmoid(out["logit"]), "scenario_probs": out["scenario_probs"]}
        if self.config.use_repeat:
            served["repeat_prob"] = out["repeat_prob"]
        return served

    def serving_endpoints(self) -> dict[str, Endpoint]:
        index_spec = [s for s in self.index_spec if s.name != "repeat_label"]
        return {"serving_default": Endpoint(lambda f: self._served(self.map_ids(f)), [signature(self.serving_spec)]),
                "serving_indices": Endpoint(self._served, [signature(index_spec)])}


def planted_data(config: MuSENetConfig, quick: bool = False, seed: int = 0):
    """The planted multi-scenario data (:func:`tfrec_pkg.data.synthetic.scenarios`)."""
    from tfrec_pkg.data.synthetic import scenarios

    return scenarios(num_users=300 if quick else 1500, max_history=config.max_history, seed=seed)


def read_alimama_directory(path, config, split: str | None = None, seed: int = 0):
    """``tfrec train --model musenet --format alimama`` (and its Table 2 baselines, which read the
    same rows): the four public Alimama display-ad files
    in directory ``path`` (:func:`tfrec_pkg.data.datasets.alimama.read_alimama`, the paper's
    data set) at the config's history length, split in time by that reader's rules (seven equal
    parts: five train, one validation, one test; the run's ``ratios`` do not apply)."""
    from tfrec_pkg.data.datasets.alimama import CONTEXT_NUMERIC, read_alimama

    if split not in (None, "temporal"):
        raise ValueError(f"split {split!r}: the Alimama files split 'temporal' (seven equal parts in time)")
    if tuple(config.context_numeric) != CONTEXT_NUMERIC:
        raise ValueError(f"context_numeric = {list(config.context_numeric)}: the Alimama rows' numeric context is "
                         f"{list(CONTEXT_NUMERIC)}; add --set context_numeric=[{','.join(CONTEXT_NUMERIC)}]")
    return read_alimama(path, max_history=config.max_history).splits()


registry.register("musenet", MuSENet, MuSENetConfig, planted_data, protocol="pointwise",
                  demo_seconds=11, claims_minutes=27.4,
                  description="MuSENet: learned implicit scenarios with repeat-aware prediction",
                  claims="tfrec_pkg.claims.musenet_checks:checks", bench="tfrec_pkg.bench.musenet_scoring:scoring_bench",
                  raw_formats={"alimama": read_alimama_directory})
