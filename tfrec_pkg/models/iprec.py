"""IPRec — intra- and inter-package attention network for package recommendation (Li et al.,
SIGIR'21; ../shared/papers/iprec_sigir21.txt).

A package is an article a, its publishing media m and the user's friends u_1..u_x who
interacted with the article (Sec. 3, Def. 1). Inputs: :func:`tfrec_pkg.specs.package_click`
(friends flattened [L F], one neighbour list of 2N packages). Forward pass (index features;
E_user is shared by users and friends, Sec. 4.2.1 and the spec):

    u                 = E_user[user]                         the initial user representation
    (p_j, gamma_j)    = Intra(u; a_j, m_j, friends_j)        Eqs. (1)-(8), one shared layer for
                                                             the target (j = 0), the H clicked
                                                             packages and the 2N neighbours
    p, gamma          = p_0, gamma_0                         the target package and its gamma
    p_tilde           = p + sum_{i in N(p)} g_i (*) p_i,     g_i = sigma(W1 p + W2 p_i + b_g1)
                                                             Eqs. (9)-(10)
    u_hat, eps        = FineGrained(u; A_u^article, A_u^media, A_u^friend)      Eqs. (11)-(14)
    u_tilde           = u_hat + sum_{i in H} g_i (*) p_i,    g_i = sigma(W3 u_hat + W4 p_i + b_g2)
                                                             Eqs. (15)-(16), its own gate
    y                 = sigmoid(w_o^T ReLU(W_2 ReLU(W_1 [u_tilde || p_tilde] + b_1) + b_2) + b_o)
                                                             Eq. (17)
    L                 = BCE(y, label) + lambda * sum ||W||^2 Eq. (18)

Readings taken (the paper is silent or differs from its public code; each repeated where it
applies):

* **Which user vector where.** The paper writes the *initial* representation u in Eqs. (5),
  (8) ("u is the initial representation of user u", after Eq. (5)) and in Eqs. (12), (14);
  u_hat enters only Eq. (15); Eq. (17) takes [u_tilde || p_tilde]. We follow the paper. (The
  public code queries the intra-package attention with u_hat instead of u.)
* **Which packages are encoded how.** Every package -- target, clicked (H) and neighbour
  (N(p)) -- goes through the same :class:`IntraPackageAttention` (same parameters, query u):
  Eq. (9) says p_i and p are "learned with intra-package attention network", and Eq. (15)'s
  p_i are the clicked packages' representations, for which no neighbours are given, so they
  are intra-package vectors (no inter-package step). Each package brings its own friends.
* **Neighbours.** One set N(p) with one gate (the paper's Eqs. (9)-(10)); the spec lists up
  to N same-media then up to N friend-sharing packages. (The public code gates the two kinds
  separately and averages each.) ``gate_reduce="sum"`` is the paper's sum of Eqs. (10), (16);
  ``"mean"`` the public code's mean over the padded slots.
* **Padding.** Index 0 (padding) rows of the embedding tables are ordinary trainable rows,
  as in every model of the library; padded slots are *masked* instead: padded friends
  (Eqs. (2)-(3)), padded objects (Eqs. (11)-(12)), padded clicked packages (Eq. (16)) and
  padded neighbours (Eq. (10)) contribute nothing, whatever their row holds. Masks are read
  from the ids (index != 0): an unknown id (OOV, index 1) is a real object. A package's slot
  is padding when its article is. A friendless package has f = 0 and no friend combinations
  (see IntraPackageAttention); an empty user has u_hat = sigma(0), no history gives
  u_tilde = u_hat, no neighbours p_tilde = p. (The public code concatenates a zero,
  non-trainable row 0 and masks all-zero embeddings.) Only the real packages go through the
  intra-package layer, each distinct one once per batch; padded slots come back as zero
  vectors (``IPRec._packages``, which also works around a TF 2.21 oneDNN einsum bug).
* **MLP.** "Two-layer MLP" (Eq. (17)) = two ReLU hidden layers then a linear logit, widths
  ``ranker_units`` = (64, 32) as in the public code; its input is the paper's
  [u_tilde || p_tilde] (``predictor_input="concat"``); ``"concat_product"`` is the public
  code's [u_tilde || p_tilde || u_tilde * p_tilde]. The user's own embedding u reaches the
  MLP only through u_hat and the attention weights, so with "concat" every user x package
  interaction has to be formed by the MLP from a concatenation.
* **Dropout.** The paper gives the rate (0.4, Sec. 5.2), not the place. Dropout follows each
  hidden layer of the MLP, as in the public code (which also drops inside its space
  attention; the equation-tested layers have no dropout, so that one is left out).
* **L2, Eq. (18).** lambda ||Theta|| is read as lambda times the sum of squares of every weight
  *matrix* of the model -- the three embedding tables, W_f^k, W_a^k, the attention, gate,
  fusion and MLP kernels and the logit kernel -- and of no bias (Keras' ``l2`` convention,
  lambda sum w^2, as the library's other models). It is one entry of ``model.losses``, which
  :class:`RecModel` scales for distribution. (The public code uses lambda * sum w^2 / 2 over the
  embeddings and the intra-package matrices only.)
* **Initialisation.** Xavier (glorot-uniform) for every matrix, embeddings included; zero
  biases (Sec. 5.2).
* **Optimiser.** RMSProp at 1e-4 (Sec. 5.2): ``config.optimizer="rmsprop"``, which
  ``models.optimizers.make_optimizer`` (``training.train``, ``experiment``) builds. The
  registered planted config trains with Adam at 1e-3 instead (the registration says why).

Table 3's ablations are flags: ``package_attention=False`` (w/o att: means inside the
package, Eqs. (3), (5), (8)), ``dual_attention=False`` (w/o dual: means in Eqs. (12), (14)),
``inter_package=False`` (w/o inter: p_tilde = p and u_tilde = u_hat; the clicked packages
and the neighbours are then not read, and their features leave the spec).

``explain(features)`` returns the score with the target package's gamma (Eq. (8), order
:attr:`IntraPackageAttention.COMBINATIONS`, the paper's interpretability weights, Sec. 5.4)
and the type weights eps of Eq. (14).
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrec_pkg import specs
from tfrec_pkg.config import Config
from tfrec_pkg.features import PAD_INDEX, FeatureSpec, signature
from tfrec_pkg.layers.mlp import dense_stack
from tfrec_pkg.layers.package import GatedAggregation, IntraPackageAttention, UserObjectAggregation
from tfrec_pkg.models import registry
from tfrec_pkg.models.endpoint import Endpoint
from tfrec_pkg.models.optimizers import OPTIMIZERS
from tfrec_pkg.models.recmodel import RecModel, click_task

__all__ = ["IPRec", "IPRecConfig"]

FUSIONS = ("product", "add", "concat")
GATE_REDUCES = ("sum", "mean")
PREDICTOR_INPUTS = ("concat", "concat_product")
OBJECT_TYPES = ("article", "media", "friend")  # order of Eq. (14)'s types (and of ``type_weights``)


@dataclasses.dataclass
class IPRecConfig(Config):
    # input sizes, as specs.package_click names them (the public code's / reader's defaults;
    # footnote 1: friend lists truncated or padded to 20)
    max_friends: int = 20       # F
    max_history: int = 50       # H, clicked packages (Eqs. 15-16)
    max_neighbours: int = 20    # N: up to 2N inter-package neighbours (Eqs. 9-10)
    max_objects: int = 50       # O, per object type (Eqs. 11-14)
    article_dtype: str = "int64"  # "string" for the public WeChat release's article ids
    item_dim: int = 64          # d, every representation (Sec. 5.2)
    num_spaces: int = 4         # K disentangled friend spaces (Sec. 5.2)
    fusion: str = "product"     # Gamma of Eq. (6): "product" (paper) | "add" | "concat"
    package_attention: bool = True  # False: Table 3's IPRec w/o att
    dual_attention: bool = True     # False: Table 3's IPRec w/o dual
    inter_package: bool = True      # False: Table 3's IPRec w/o inter
    gate_reduce: str = "sum"    # Eqs. (10), (16): "sum" (paper) | "mean" (public code)
    ranker_units: tuple = (64, 32)  # the two-layer MLP of Eq. (17) (public code's widths)
    # the MLP's input: "concat" = [u_tilde || p_tilde] (Eq. 17); "concat_product" = the public
    # code's [u_tilde || p_tilde || u_tilde * p_tilde]
    predictor_input: str = "concat"
    dropout: float = 0.4        # Sec. 5.2
    l2: float = 1e-5            # lambda of Eq. (18), Sec. 5.2
    optimizer: str = "rmsprop"  # Sec. 5.2 (models.optimizers.OPTIMIZERS)
    learning_rate: float = 1e-4  # Sec. 5.2
    batch_size: int = 512       # Sec. 5.2
    epochs: int = 20            # upper bound; early stopping on validation AUC (Sec. 5.2)

    def __post_init__(self):
        self.check_positive_ints("max_friends", "max_history", "max_neighbours", "max_objects", "item_dim",
                                 "num_spaces", "batch_size", "epochs")
        self.check_units("ranker_units")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {self.fusion!r}")
        if self.gate_reduce not in GATE_REDUCES:
            raise ValueError(f"gate_reduce must be one of {GATE_REDUCES}, got {self.gate_reduce!r}")
        if self.predictor_input not in PREDICTOR_INPUTS:
            raise ValueError(f"predictor_input must be one of {PREDICTOR_INPUTS}, got {self.predictor_input!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {tuple(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.article_dtype not in ("int64", "string"):
            raise ValueError(f"article_dtype must be 'int64' or 'string', got {self.article_dtype!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not self.l2 >= 0.0:
            raise ValueError(f"l2 must be >= 0, got {self.l2!r}")
        if not self.learning_rate > 0.0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")


class IPRec(RecModel):
    config_class = IPRecConfig
    loss_names = ("bce",)
    early_stopping_monitor = "val_auc"

    def __init__(self, config: IPRecConfig | None = None, vocab=None, name=None):
        config = config or IPRecConfig()
        super().__init__(config, vocab or {}, name=name or "iprec")
        d = config.item_dim
        xavier = dict(embeddings_initializer="glorot_uniform")  # Sec. 5.2
        self.user_embedding = tf.keras.layers.Embedding(self.vocab["user"].size, d, name="user_embedding", **xavier)
        self.article_embedding = tf.keras.layers.Embedding(self.vocab["article"].size, d,
                                                           name="article_embedding", **xavier)
        self.media_embedding = tf.keras.layers.Embedding(self.vocab["media"].size, d, name="media_embedding", **xavier)
        # Eqs. (1)-(8): one layer for every package (target, clicked, neighbours)
        self.intra = IntraPackageAttention(config.num_spaces, config.fusion, attention=config.package_attention,
                                           name="intra_package")
        # Eqs. (11)-(14): types in the order of OBJECT_TYPES
        self.fine_grained = UserObjectAggregation(len(OBJECT_TYPES), attention=config.dual_attention,
                                                  name="fine_grained")
        if config.inter_package:
            self.inter = GatedAggregation(reduce=config.gate_reduce, name="inter_package")     # Eqs. (9)-(10)
            self.coarse = GatedAggregation(reduce=config.gate_reduce, name="coarse_grained")   # Eqs. (15)-(16)
        # Eq. (17); its L2 is the model-wide penalty below, so none here
        self.ranker = dense_stack(config.ranker_units, dropout=config.dropout, name="ranker")
        self.logit_layer = tf.keras.layers.Dense(1, name="logit")
        self.task = click_task()
        if config.l2:
            self.add_loss(self._l2_penalty)  # Eq. (18), evaluated whenever model.losses is read

    # --- inputs --------------------------------------------------------------------------
    @property
    def feature_spec(self) -> list[FeatureSpec]:
        c = self.config
        spec = specs.package_click(c.max_friends, c.max_history, c.max_neighbours, c.max_objects, c.article_dtype)
        if c.inter_package:
            return spec
        return [s for s in spec if not s.name.startswith(("hist_", "nb_"))]  # w/o inter reads neither

    # --- forward (index features) ----------------------------------------------------------
    def _l2_penalty(self):
        """lambda * sum of squares of every weight matrix (rank >= 2: embeddings and kernels,
        no biases), Eq. (18); None before the model is built."""
        matrices = [v for v in self.trainable_variables if v.shape.rank >= 2]
        if not matrices:
            return None
        return self.config.l2 * tf.add_n([tf.reduce_sum(tf.square(v)) for v in matrices])

    def _packages(self, users, articles, media, friends, distinct=True):
        """Eqs. (1)-(8) for packages [B, P] (friends [B, P, F]) of the users [B] (index ids; the
        query is their initial representation u, Eqs. (5), (8)) -> (p [B, P, d], gamma [B, P, 7]);
        padded slots get zeros.

        Each distinct (user, article, media, friends) package of the batch goes through the
        layer once, and its p and gamma are gathered back to every slot that holds it: a row's
        neighbours are its user's other clicked packages (Sec. 4.2.2), so they repeat the
        history, and a user's rows repeat each other's history (1.9x fewer packages in a batch
        of 512 on the planted data at 300 users, 1.5x at 600). The layer has no dropout, so a
        repeated package's outputs are the same however often it is encoded. Padded slots are
        masked out downstream and skipped here (slot 0, the target, always goes through); every
        real package's p and gamma are exactly what the full [B, P, F] computation gives. So are
        the friends and articles: each distinct one of the batch is projected once (Eqs. (1), (3)).
        ``distinct=False`` encodes every kept slot and friend slot (the ONNX endpoint: tf2onnx
        has no converter for the unique-rows op).

        The layer always sees one flat leading axis: TF 2.21's oneDNN einsum of Eq. (1)
        (``...fd,kde->...kfe``) returns garbage and corrupts the heap for leading dims
        [B >= 6, 1] (a size-1 package axis, e.g. w/o inter), while a single leading axis is
        exact (checked against numpy, values and gradients)."""
        d = self.config.item_dim
        b, p = tf.shape(articles)[0], tf.shape(articles)[1]
        flat_articles = tf.reshape(articles, [-1])
        is_target = tf.equal(tf.range(b * p) % p, 0)
        keep = tf.where(tf.not_equal(flat_articles, PAD_INDEX) | is_target)           # [n, 1]
        slot_users = tf.broadcast_to(tf.cast(users, tf.int64)[:, None], [b, p])
        keys = tf.concat([tf.reshape(slot_users, [-1, 1]), tf.cast(flat_articles[:, None], tf.int64),
                          tf.cast(tf.reshape(media, [-1, 1]), tf.int64),
                          tf.cast(tf.reshape(friends, [-1, self.config.max_friends]), tf.int64)], 1)
        kept = tf.gather_nd(keys, keep)                                                 # [n, 3 + F]
        if distinct:  # each distinct package once, and in them each distinct friend and article once
            kept, slot_of = tf.raw_ops.UniqueV2(x=kept, axis=[0])                      # [m, 3 + F], [n]
            distinct_friends, friend_index = tf.unique(tf.reshape(kept[:, 3:], [-1]))
            distinct_articles, article_index = tf.unique(kept[:, 1])
            friends = self.user_embedding(distinct_friends)
            friend_index = tf.reshape(friend_index, [-1, self.config.max_friends])
            articles = self.article_embedding(distinct_articles)
        else:
            friends, friend_index = self.user_embedding(kept[:, 3:]), None
            articles, article_index = self.article_embedding(kept[:, 1]), None
        friend_ids = kept[:, 3:]
        p_kept, gamma_kept = self.intra(self.user_embedding(kept[:, 0]), articles, self.media_embedding(kept[:, 2]),
                                        friends, friend_mask=tf.not_equal(friend_ids, PAD_INDEX),
                                        friend_index=friend_index, article_index=article_index)
        if distinct:  # back to every kept slot
            p_kept, gamma_kept = tf.gather(p_kept, slot_of), tf.gather(gamma_kept, slot_of)
        c = len(IntraPackageAttention.COMBINATIONS)
        return (tf.reshape(tf.scatter_nd(keep, p_kept, tf.cast([b * p, d], tf.int64)), [b, p, d]),
                tf.reshape(tf.scatter_nd(keep, gamma_kept, tf.cast([b * p, c], tf.int64)), [b, p, c]))

    def encode(self, features, training=False, distinct_packages=True) -> dict[str, tf.Tensor]:
        """Index features -> {"logit" [B], "gamma" [B, 7] (the target's Eq. (8) weights),
        "type_weights" [B, 3] (Eq. (14)'s eps, order OBJECT_TYPES)}. ``distinct_packages``:
        see ``_packages``."""
        c = self.config
        f = c.max_friends
        u = self.user_embedding(features["user_id"])                                     # [B, d]
        # Packages: the target first, then (inter_package) the H clicked and the 2N neighbours.
        articles, media = [features["article_id"][:, None]], [features["media_id"][:, None]]
        friends = [features["friend_ids"][:, None, :]]
        if c.inter_package:
            h, n2 = c.max_history, 2 * c.max_neighbours
            articles += [features["hist_article_ids"], features["nb_article_ids"]]
            media += [features["hist_media_ids"], features["nb_media_ids"]]
            friends += [tf.reshape(features["hist_friend_ids"], [-1, h, f]),          # [B, H F] -> [B, H, F]
                        tf.reshape(features["nb_friend_ids"], [-1, n2, f])]
        articles, media, friends = tf.concat(articles, 1), tf.concat(media, 1), tf.concat(friends, 1)
        p_all, gamma_all = self._packages(features["user_id"], articles, media, friends,
                                          distinct=distinct_packages)           # [B, P, d], [B, P, 7]
        # one split, not three slices: a slice's gradient is a zero [B, P, d] filled in each time
        p, hist_p, nb_p = tf.split(p_all, [1, h, n2], axis=1) if c.inter_package else (p_all, None, None)
        p, gamma = p[:, 0], gamma_all[:, 0]
        # Eqs. (11)-(14): node- then type-level attention over the user's objects, query u
        objects = [self.article_embedding(features["user_article_ids"]),
                   self.media_embedding(features["user_media_ids"]),
                   self.user_embedding(features["user_friend_ids"])]
        masks = [tf.not_equal(features[k], PAD_INDEX) for k in ("user_article_ids", "user_media_ids",
                                                                "user_friend_ids")]
        u_hat, eps = self.fine_grained(u, objects, masks)
        if c.inter_package:
            p_tilde = self.inter(p, nb_p, mask=tf.not_equal(features["nb_article_ids"], PAD_INDEX))        # Eqs. (9)-(10)
            u_tilde = self.coarse(u_hat, hist_p, mask=tf.not_equal(features["hist_article_ids"], PAD_INDEX))  # (15)-(16)
        else:  # w/o inter
            p_tilde, u_tilde = p, u_hat
        parts = [u_tilde, p_tilde]                                                         # Eq. (17)
        if c.predictor_input == "concat_product":  # the public code's extra u_tilde * p_tilde
            parts.append(u_tilde * p_tilde)
        x = tf.concat(parts, -1)
        for layer in self.ranker:
            x = layer(x, training=training)
        return {"logit": tf.squeeze(self.logit_layer(x), -1), "gamma": gamma, "type_weights": eps}

    def call_indexed(self, features, training=False):
        return tf.sigmoid(self.encode(features, training)["logit"])

    def loss_terms(self, features, training=False):
        logits = self.encode(self.map_ids(features), training)["logit"]
        # [B, 1] so the loss stays per example (Keras losses average the last axis); Eq. (18)
        bce = self.task(labels=features["label"][:, None], predictions=logits[:, None], training=training)
        return {"bce": bce}

    def explain(self, features) -> dict[str, tf.Tensor]:
        """Raw features -> {"score" [B], "gamma" [B, 7], "type_weights" [B, 3]}: the click
        probability, the target package's combination weights (Eq. (8), order
        ``IntraPackageAttention.COMBINATIONS``; 0 on friend combinations of a friendless
        package) and the object-type weights (Eq. (14), order ``OBJECT_TYPES``)."""
        out = self.encode(self.map_ids(features), training=False)
        return {"score": tf.sigmoid(out["logit"]), "gamma": out["gamma"], "type_weights": out["type_weights"]}

    def serving_endpoints(self) -> dict[str, Endpoint]:
        """``serving_default`` (raw ids) and ``serving_indices`` (index features, for ONNX) both
        return {"score" [B], "gamma" [B, 7]}: the click probability and the package's
        combination weights, the explanation to show beside a recommendation (Sec. 5.4).
        ``serving_indices`` encodes every package slot (no unique-rows op, which tf2onnx cannot
        convert); the outputs are the same."""
        def scored(features, distinct_packages=True):
            out = self.encode(features, training=False, distinct_packages=distinct_packages)
            return {"score": tf.sigmoid(out["logit"]), "gamma": out["gamma"]}

        return {"serving_default": Endpoint(lambda features: scored(self.map_ids(features)),
                                            [signature(self.feature_spec)]),
                "serving_indices": Endpoint(lambda features: scored(features, distinct_packages=False),
                                            [signature(self.index_spec)])}


# The generator's own sizes (tfrec_pkg.data.synthetic.packages): its users have about 7
# training clicks and packages of 1-4 friends, so the paper's 20 / 50 / 20 / 50 would be mostly
# padding.
PLANTED_SIZES = {"max_friends": 10, "max_history": 20, "max_neighbours": 10, "max_objects": 30}
# The demo's data: 1000 users (about 20k training rows, a couple of minutes on 2 cores); the
# claim checks use 600 users with 100 impressions each (tfrec_pkg.claims.iprec_checks), quick
# mode 300.
PLANTED_USERS = 1000


def planted_data(config: IPRecConfig, quick: bool = False, seed: int = 0, num_users: int | None = None,
                 impressions_per_user: int = 30):
    """The planted package-click data (:func:`tfrec_pkg.data.synthetic.packages`) at the
    config's input sizes: as many articles as users and a media per 20 of them."""
    from tfrec_pkg.data.synthetic import packages

    users = num_users or (300 if quick else PLANTED_USERS)
    return packages(num_users=users, num_articles=users, num_media=max(20, users // 20),
                    impressions_per_user=impressions_per_user,
                    max_friends=config.max_friends, max_history=config.max_history,
                    max_neighbours=config.max_neighbours, max_objects=config.max_objects, seed=seed)


def read_raw_log(path, config, split: str | None = None, seed: int = 0):
    """``tfrec train --model iprec --format iprec_raw``: the paper's raw impression log
    (:func:`tfrec_pkg.data.datasets.iprec_raw.read_iprec`) at the config's input sizes, split
    7:1:2 per user in time order by that reader's rules (the run's ``ratios`` do not apply).
    Table 2's baselines (MF, DeepMF, NeuMF, DiffNet) read the same rows: a size their config
    lacks takes IPRec's default, so each model trains and tests on the same impressions."""
    from tfrec_pkg.data.datasets.iprec_raw import read_iprec

    if split not in (None, "temporal"):
        raise ValueError(f"split {split!r}: an IPRec raw log splits 'temporal' (7:1:2 per user in time order)")
    defaults = IPRecConfig()
    sizes = {name: getattr(config, name, getattr(defaults, name))
             for name in ("max_friends", "max_history", "max_neighbours", "max_objects", "article_dtype")}
    return read_iprec(path, split="temporal", seed=seed, **sizes)


# Planted training: Adam at 1e-3 on batches of 256 instead of the config's RMSProp at 1e-4
# (Sec. 5.2): on the quick planted set (300 users, seeds 0 and 1) RMSProp at 1e-4 stopped early
# at test AUC 0.513-0.516, Adam at 1e-3 reached 0.589-0.591.
registry.register("iprec", IPRec, IPRecConfig, planted_data, protocol="pointwise",
                  demo_seconds=20, claims_minutes=43.7,
                  description="IPRec: package recommendation with intra- and inter-package attention",
                  planted={**PLANTED_SIZES, "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 256},
                  claims="tfrec_pkg.claims.iprec_checks:checks", bench="tfrec_pkg.bench.iprec_packages:package_bench",
                  raw_formats={"iprec_raw": read_raw_log})
