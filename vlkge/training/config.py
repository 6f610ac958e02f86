"""Every hyperparameter of a training run, with defaults that are good out of the box."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class TrainConfig:
    model: str = "complex"
    dim: int = 256
    epochs: int = 300
    batch_size: int = 1024
    negatives: int = 64
    negative_sampling: str = "auto"  # uniform | typed (corrupt within the relation's domain/range) | auto
    filter_negatives: bool = False
    loss: str = "logistic"  # logistic | margin
    margin: float = 1.0
    optimizer: str = "adam"  # adam | adagrad
    lr: float = 0.005
    reg: float = 0.0  # L2 penalty on the embeddings of each batch
    p: int = 1  # TransE norm
    seed: int = 0
    patience: int = 5  # evaluations without improvement before stopping
    eval_every: int = 10  # epochs
    eval_protocol: str = "auto"  # auto | both | tail-candidates
    eval_filter: str = "directed"  # directed | undirected (see evaluation.ranking.FILTERS)
    eval_max_queries: int = 5000  # validation subset size used for early stopping
    modalities: list[str] = field(default_factory=lambda: ["auto"])
    encoder: str = "auto"
    fusion: str = "average"
    structural_dropout: float = 0.5  # see EntityRepresentation.forward
    device: str = "auto"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
