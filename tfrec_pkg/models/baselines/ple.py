"""PLE (Tang et al., "Progressive Layered Extraction", RecSys'20), MuSENet's strongest
multi-scenario baseline, with the *predefined* scenarios as its tasks (MuSENet Sec. 4.1: "the
latter two baselines are multi-scenario models but extract scenarios based on pre-defined
rules"): each sample is scored by the tower of its predefined scenario.

    x^0 = [p_u, mean B_u, b_t, o_u]                            (the scenario baselines' input)
    level l = 1..L, scenario k = 1..K:
        E_k = the ``specific_experts`` experts of k,  E_s = the ``shared_experts`` shared ones
        x_k^l = sum_j g_k,j e_j(x_k^{l-1}),  g_k = softmax(W_k^l x_k^{l-1}),  e_j over E_k then E_s
        x_s^l = sum_j g_s,j e_j(x_s^{l-1}),  g_s = softmax(W_s^l x_s^{l-1}),  e_j over all experts
                                                                 (levels below the last only)
    logit = tower_k*(x_k*^L),  k* = the sample's predefined scenario

Experts are ReLU MLPs (``expert_units``), towers ReLU MLPs (``tower_units``) then a linear
logit. An expert sees its own branch's input: task experts x_k, shared experts x_s, as in the
paper's Fig. 5. A sample with an unknown predefined scenario gets the mean of the K towers'
logits.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrec_pkg import specs
from tfrec_pkg.features import NUM_RESERVED
from tfrec_pkg.layers.mlp import dense_stack
from tfrec_pkg.models import registry
from tfrec_pkg.models.baselines.scenario_click import ScenarioClickConfig, ScenarioClickModel
from tfrec_pkg.models.musenet import planted_data, read_alimama_directory

__all__ = ["PLE", "PLEConfig"]


@dataclasses.dataclass
class PLEConfig(ScenarioClickConfig):
    num_scenarios: int = 3        # the predefined segments (Alimama: three shopping levels)
    num_levels: int = 2           # extraction levels (PLE; 1 = CGC)
    shared_experts: int = 2
    specific_experts: int = 1
    expert_units: tuple = (64,)
    tower_units: tuple = (32,)

    def __post_init__(self):
        super().__post_init__()
        self.check_positive_ints("num_scenarios", "num_levels", "shared_experts", "specific_experts")
        self.check_units("expert_units", "tower_units")


class PLE(ScenarioClickModel):
    config_class = PLEConfig

    def __init__(self, config: PLEConfig | None = None, vocab=None, name=None):
        config = config or PLEConfig()
        super().__init__(config, vocab, name or "ple")
        c = config
        k, s = c.num_scenarios, c.shared_experts
        self.experts, self.gates = [], []
        for level in range(c.num_levels):
            experts = {"shared": [dense_stack(c.expert_units, name=f"l{level}_shared_{j}") for j in range(s)],
                       "task": [[dense_stack(c.expert_units, name=f"l{level}_task{t}_{j}")
                                 for j in range(c.specific_experts)] for t in range(k)]}
            gates = {"task": [tf.keras.layers.Dense(c.specific_experts + s, name=f"l{level}_gate_task{t}")
                              for t in range(k)]}
            if level < c.num_levels - 1:
                gates["shared"] = tf.keras.layers.Dense(k * c.specific_experts + s, name=f"l{level}_gate_shared")
            self.experts.append(experts)
            self.gates.append(gates)
        self.towers = [dense_stack(c.tower_units, name=f"tower{t}") + [tf.keras.layers.Dense(1, name=f"tower{t}_logit")]
                       for t in range(k)]

    @property
    def feature_spec(self):
        spec = specs.scenario_click(self.config.max_history, context_numeric=self.config.context_numeric)
        return [s for s in spec if s.name != "repeat_label"]   # reads the predefined scenario

    @staticmethod
    def _run(layers, x):
        for layer in layers:
            x = layer(x)
        return x

    @staticmethod
    def _mix(gate, x, outputs):
        weights = tf.nn.softmax(gate(x), -1)                                   # [B, n]
        return tf.einsum("bn,bnd->bd", weights, tf.stack(outputs, 1))

    def logit(self, fields, training=False):
        c = self.config
        x0 = tf.concat([fields["user"], fields["behaviour_mean"], fields["target"], fields["context"]], -1)
        tasks, shared = [x0] * c.num_scenarios, x0
        for level, (experts, gates) in enumerate(zip(self.experts, self.gates)):
            shared_out = [self._run(e, shared) for e in experts["shared"]]
            task_out = [[self._run(e, tasks[t]) for e in experts["task"][t]] for t in range(c.num_scenarios)]
            new_tasks = [self._mix(gates["task"][t], tasks[t], task_out[t] + shared_out) for t in range(c.num_scenarios)]
            if "shared" in gates:
                shared = self._mix(gates["shared"], shared, [o for outs in task_out for o in outs] + shared_out)
            tasks = new_tasks
        logits = tf.stack([tf.squeeze(self._run(tower, tasks[t]), -1) for t, tower in enumerate(self.towers)], -1)
        index = fields["ids"]["predefined_scenario"]
        known = (index >= NUM_RESERVED) & (index < NUM_RESERVED + c.num_scenarios)
        pick = tf.one_hot(tf.clip_by_value(index - NUM_RESERVED, 0, c.num_scenarios - 1), c.num_scenarios)
        weights = tf.where(known[:, None], pick, tf.fill(tf.shape(pick), 1.0 / c.num_scenarios))
        return tf.reduce_sum(weights * logits, -1)


registry.register("ple", PLE, PLEConfig, planted_data, protocol="pointwise", in_demo=False,
                  planted={"num_scenarios": 3},
                  description="PLE on the predefined scenarios (MuSENet's multi-scenario baseline)",
                  raw_formats={"alimama": read_alimama_directory})
