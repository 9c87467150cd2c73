"""SASRec (Kang & McAuley, ICDM'18) by name: IPSRec's item stream alone -- item tokens with
learned positions, LayerNorm + dropout, a causal Transformer, the user vector at the last real
step, full-softmax cross-entropy over the item table (RecBole's CE loss) -- the code of
``IPSRecConfig(use_provider=False)``, registered as a model in its own right.

Hyper-parameters (``SASRecConfig`` defaults = RecBole 1.2's SASRec.yaml, the form IPSRec's
Table 2 runs):

==================  ========  ===================================  ==========================
setting             here      RecBole 1.2 (SASRec.yaml)            SASRec paper (Sec. IV-B)
==================  ========  ===================================  ==========================
max_history (L)     50        MAX_ITEM_LIST_LENGTH 50              50 (200 on MovieLens-1M)
item_dim (d)        64        hidden_size 64                       50
num_layers          2         n_layers 2                           2
num_heads           2         n_heads 2                            1
ffn_dim             256       inner_size 256                       d (50)
dropout             0.5       hidden/attn_dropout_prob 0.5         0.2 (0.5 on sparse Amazon)
learning_rate       1e-3      learning_rate 1e-3                   1e-3
batch_size          256       train_batch_size 2048                128
loss                CE        loss_type CE (full softmax)          BCE, 1 sampled negative
training rows       "last"    one row per prefix                   "all": one row per sequence
patience            10        stopping_step 10                     (best validation NDCG@10)
==================  ========  ===================================  ==========================

``training_positions="all"`` trains the paper's way: one row per user sequence, the loss at
every position (:mod:`tfrec_pkg.models.next_item`).
"""
from __future__ import annotations

import dataclasses

from tfrec_pkg.models import registry
from tfrec_pkg.models.ipsrec import IPSRec, IPSRecConfig
from tfrec_pkg.models.next_item import PLANTED, planted_data

__all__ = ["SASRec", "SASRecConfig"]


@dataclasses.dataclass
class SASRecConfig(IPSRecConfig):
    use_provider: bool = False


class SASRec(IPSRec):
    config_class = SASRecConfig
    loss_names = ("ce",)

    def __init__(self, config: SASRecConfig | None = None, vocab=None, name=None):
        config = config or SASRecConfig()
        if config.use_provider:
            raise ValueError("SASRec reads no provider stream (use_provider=False); "
                             "for item-provider co-learning use the 'ipsrec' model")
        super().__init__(config, vocab, name=name)


registry.register("sasrec", SASRec, SASRecConfig, planted_data, protocol="full_ranking",
                  description="SASRec (RecBole form; training_positions='all' for the paper's)",
                  planted=PLANTED, in_demo=False)
