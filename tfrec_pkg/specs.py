"""Input contracts that several models and the data side share.

A model owns the description of its inputs (its ``feature_spec``). Where one contract is
read by several models *and* produced by generators or public readers, it lives here, so
that ``models/`` and ``data/`` both import it and neither imports the other. A contract used
by one model only lives in that model's module, and the model's planted-data builder hands
it to the generator.

* :func:`click_history` -- a candidate item with its category, the user, and the user's
  item/category history (BaseModel with string categories; SUM and the Taobao reader with
  int64 categories).
* :func:`next_item` -- aligned item/provider histories and the next item with its provider
  (IPSRec, SASRec, GRU4Rec; the provider synthetic data and the public IPSRec readers).
  :data:`UNKNOWN_PROVIDER` is the provider id of items without a known provider.
* :func:`next_item_all_positions` -- the same sequences as one row per user with the next item at
  every step (SASRec's all-position training form).
* :func:`package_click` -- a package (article + publishing media + friends) shown to a user, the
  user's object sets, clicked packages and the package's inter-package neighbours (IPRec; the
  planted ``packages`` data and the IPRec raw-log reader).
* :func:`scenario_click` -- a click sample x = [p_u, B_u, b_t, o_u] with the repeat label and a
  predefined scenario (MuSENet and its baselines; the planted ``scenarios`` data and the
  Alimama display-ad reader).
"""
from __future__ import annotations

from tfrec_pkg.features import FeatureSpec

# The provider of an item whose provider is not known (no mapping, no brand). A real id, so
# the models learn one "unknown" provider embedding; not -1, the int64 padding.
UNKNOWN_PROVIDER = -2


def click_history(max_history: int, category_dtype: str = "int64") -> list[FeatureSpec]:
    """Target item + category, user, and the page-view history (left-aligned, ``max_history``)."""
    return [
        FeatureSpec("user_id", "int64", vocabulary="user"),
        FeatureSpec("item_id", "int64", vocabulary="item"),
        FeatureSpec("category_id", category_dtype, vocabulary="category"),
        FeatureSpec("hist_item_ids", "int64", (max_history,), vocabulary="item"),
        FeatureSpec("hist_category_ids", category_dtype, (max_history,), vocabulary="category"),
    ]


def next_item(max_history: int) -> list[FeatureSpec]:
    """Item + provider histories and the next item with its provider."""
    return [
        FeatureSpec("user_id", "int64", vocabulary="user"),
        FeatureSpec("hist_item_ids", "int64", (max_history,), vocabulary="item"),
        FeatureSpec("hist_provider_ids", "int64", (max_history,), vocabulary="provider"),
        FeatureSpec("item_id", "int64", vocabulary="item"),
        FeatureSpec("provider_id", "int64", vocabulary="provider"),
    ]


def next_item_all_positions(max_history: int) -> list[FeatureSpec]:
    """One row per user sequence (SASRec's own training form): the inputs i_1..i_n with their
    providers, and at every step t the next item i_{t+1} (``target_item_ids``, aligned with
    the inputs, padding where the inputs pad) with its provider. The loss is taken at every
    real step, so one forward pass trains n targets."""
    return [
        FeatureSpec("user_id", "int64", vocabulary="user"),
        FeatureSpec("hist_item_ids", "int64", (max_history,), vocabulary="item"),
        FeatureSpec("hist_provider_ids", "int64", (max_history,), vocabulary="provider"),
        FeatureSpec("target_item_ids", "int64", (max_history,), vocabulary="item"),
        FeatureSpec("target_provider_ids", "int64", (max_history,), vocabulary="provider"),
    ]


def package_click(max_friends: int = 20, max_history: int = 50, max_neighbours: int = 20,
                  max_objects: int = 50, article_dtype: str = "int64") -> list[FeatureSpec]:
    """One impression of a package for IPRec (SIGIR'21, ../shared/papers/iprec_sigir21.txt).

    A package is an article, its publishing media and the user's friends who interacted with
    the article (Sec. 3, Def. 1). Raw ids, padding -1, left-aligned (module
    :mod:`tfrec_pkg.features`). Per impression row:

    ==================  ==============================  ==========  =================================
    feature             shape                           vocabulary  what (paper)
    ==================  ==============================  ==========  =================================
    user_id             ()                              user        the user u
    article_id          ()                              article     the target package's article a
    media_id            ()                              media       its publishing media m
    friend_ids          (F,)                            user        its friends u_1..u_x (Sec. 4.2.1)
    user_article_ids    (O,)                            article     A_u^article: clicked articles
    user_media_ids      (O,)                            media       A_u^media: subscribed media
    user_friend_ids     (O,)                            user        A_u^friend: friends of clicked
                                                                    packages (Eqs. 11-14)
    hist_article_ids    (H,)                            article     H: the clicked packages
    hist_media_ids      (H,)                            media         (Eqs. 15-16), oldest first
    hist_friend_ids     (H * F,)  = [H, F] row-major    user
    nb_article_ids      (2N,)                           article     N(p): inter-package neighbours
    nb_media_ids        (2N,)                           media         (Eqs. 9-10)
    nb_friend_ids       (2N * F,) = [2N, F] row-major   user
    ==================  ==============================  ==========  =================================

    with F = ``max_friends``, H = ``max_history``, N = ``max_neighbours``, O = ``max_objects``.

    * Friends are users: every friend feature shares the ``"user"`` vocabulary with
      ``user_id``. The paper embeds a friend u_i with the user representation (Eq. (1) takes
      "the initial representations of u_i"), the public code looks friends up in its user table
      and builds one user map over users and friends; a user who is also someone's friend then
      has one embedding. There is no separate ``"friend"`` vocabulary.
    * [L, F] features are flattened: :class:`~tfrec_pkg.features.FeatureSpec` takes scalars and
      1-D sequences only (it rejects a 2-D shape), and the tf.data pipeline pads 1-D sequences.
      Package k's friends sit in slots ``[k F, (k + 1) F)``, padded with -1 inside the block;
      a model reshapes the [B, L F] tensor to [B, L, F] (``tf.reshape(x, [-1, L, F])``). A frame
      cell holds ``n F`` values (n packages, each block padded to F), so the pipeline's padding
      at the end and its keep-the-last-values truncation never split a block.
    * Neighbours: one list, the paper's single set N(p) of Eq. (9). Up to N same-media
      packages come first, then up to N friend-sharing packages (ranked by friend overlap) that
      are not already listed, so the list has up to 2N packages; a neighbour's kind can be
      recovered as ``nb_media_ids == media_id`` (the public code gates the two kinds
      separately and averages each; a model that wants that reading splits on it). The
      neighbour list is ranked best first, not by time, and is built at its full length
      (never truncated by the pipeline).
    * ``article_dtype="string"`` for article ids that are not integers (the public WeChat
      release writes articles as ``"<media>_<msgid>_<idx>"``).

    The label (click) is the frame column ``label``.
    """
    for name, value in (("max_friends", max_friends), ("max_history", max_history),
                        ("max_neighbours", max_neighbours), ("max_objects", max_objects)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, found {value!r}")
    if article_dtype not in ("int64", "string"):
        raise ValueError(f"article_dtype must be 'int64' or 'string', found {article_dtype!r}")
    f, h, n, o = int(max_friends), int(max_history), int(max_neighbours), int(max_objects)
    return [
        FeatureSpec("user_id", "int64", vocabulary="user"),
        FeatureSpec("article_id", article_dtype, vocabulary="article"),
        FeatureSpec("media_id", "int64", vocabulary="media"),
        FeatureSpec("friend_ids", "int64", (f,), vocabulary="user"),
        FeatureSpec("user_article_ids", article_dtype, (o,), vocabulary="article"),
        FeatureSpec("user_media_ids", "int64", (o,), vocabulary="media"),
        FeatureSpec("user_friend_ids", "int64", (o,), vocabulary="user"),
        FeatureSpec("hist_article_ids", article_dtype, (h,), vocabulary="article"),
        FeatureSpec("hist_media_ids", "int64", (h,), vocabulary="media"),
        FeatureSpec("hist_friend_ids", "int64", (h * f,), vocabulary="user"),
        FeatureSpec("nb_article_ids", article_dtype, (2 * n,), vocabulary="article"),
        FeatureSpec("nb_media_ids", "int64", (2 * n,), vocabulary="media"),
        FeatureSpec("nb_friend_ids", "int64", (2 * n * f,), vocabulary="user"),
    ]


PROFILE_FIELDS = ("gender", "age", "level")  # categorical user profile p_u (Alimama's user_profile)
CONTEXT_CATEGORICAL = ("slot",)  # categorical context o_u (Alimama's pid: the ad slot)
CONTEXT_NUMERIC = ("price", "distance", "lead_time")  # numeric context (the paper's OTP example, Fig. 5b)


def scenario_click(max_history: int, profile=PROFILE_FIELDS, context_categorical=CONTEXT_CATEGORICAL,
                   context_numeric=CONTEXT_NUMERIC) -> list[FeatureSpec]:
    """One click sample for MuSENet (WSDM'23, ../shared/papers/musenet_wsdm23.txt, Sec. 2.2):
    x = [p_u, B_u, b_t, o_u].

    ==========================  ========  =================  ================================
    feature                     shape     vocabulary         what (paper)
    ==========================  ========  =================  ================================
    user_id                     ()        user               p_u: the user
    profile_<name>              ()        <name>             p_u: categorical profile fields
    hist_item_ids               (L,)      item               B_u: behaviour sequence, oldest
    hist_category_ids           (L,)      category             first
    item_id, category_id        ()        item, category     b_t: the target item
    context_<name> (categ.)     ()        <name>             o_u: categorical context
    context_<name> (numeric)    ()        -                  o_u: numeric context (float32)
    predefined_scenario         ()        scenario           the rule-based segment (PLE, and
                                                             MuSENet "on predefined scenarios")
    repeat_label                ()        -                  r: the auxiliary label of Eq. (10)
    ==========================  ========  =================  ================================

    The click is the frame column ``label``. ``repeat_label`` is a training target, not a
    serving input: a model leaves it out of its serving signatures.
    """
    if int(max_history) != max_history or max_history < 1:
        raise ValueError(f"max_history must be a positive integer, found {max_history!r}")
    return ([FeatureSpec("user_id", "int64", vocabulary="user")]
            + [FeatureSpec(f"profile_{name}", "int64", vocabulary=name) for name in profile]
            + [FeatureSpec("hist_item_ids", "int64", (int(max_history),), vocabulary="item"),
               FeatureSpec("hist_category_ids", "int64", (int(max_history),), vocabulary="category"),
               FeatureSpec("item_id", "int64", vocabulary="item"),
               FeatureSpec("category_id", "int64", vocabulary="category")]
            + [FeatureSpec(f"context_{name}", "int64", vocabulary=name) for name in context_categorical]
            + [FeatureSpec(f"context_{name}", "float32") for name in context_numeric]
            + [FeatureSpec("predefined_scenario", "int64", vocabulary="scenario"),
               FeatureSpec("repeat_label", "float32")])

