"""Every hyperparameter of a training run, and the one place its defaults are decided.

A :class:`TrainConfig` is what was asked for: ``None`` (or ``"auto"``) leaves a field to the
scorer and the graph. :func:`resolve` decides all of them once, for one graph, into a frozen
:class:`ResolvedConfig`, which is what training takes, what a run's config.json records and what
the app shows. Each field's metadata carries its command-line help (``cli`` builds the ``train``
flags from it), so adding a hyperparameter is one edit here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..data.graph import Graph, default_protocol
from ..errors import VLKGEError
from ..models.fusion import FUSIONS
from ..models.scorers import SCORERS, scorer_class
from .budget import default_epochs, default_eval_every

# What a field left unset becomes when the scorer has no default of its own (Scorer.defaults).
SHARED_DEFAULTS = {"lr": 0.005, "dim": 256, "adversarial_temperature": 0.0, "tie_inverse_relations": False}
MODALITY_CHOICES = ("structural", "textual", "visual")


def setting(default=None, help: str = "", **meta):
    """A config field with its command-line help; ``meta`` may add ``choices``, ``flag`` (how
    the CLI reads it: "switch", "on-off", "list") and ``default_text`` (the default in words,
    where the graph decides it)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


@dataclass(frozen=True)
class TrainConfig:
    # RotatE (with its defaults) was the best scorer measured in every setting: WN9-IMG test
    # MRR 0.910 (ComplEx 0.904), with glosses 0.914 (0.910); wikiart-mini 0.596 (0.578), mean of
    # seeds 0-2 with 64 negatives (0.629 with 256; ComplEx 0.581, seed 0); the demo graph 0.678 (0.661).
    model: str = setting("rotate", "scoring function", choices=list(SCORERS))
    dim: int | None = setting(None, "embedding dimension")
    epochs: int | None = setting(None, "most training epochs (early stopping may end sooner)",
                                 default_text="4M / training triples, within 10-300 (training.budget)")
    batch_size: int = setting(1024, "positive triples per step")
    negatives: int | None = setting(None, "negatives per positive (>= #entities: all)",
                                    default_text="64, or 256 with typed negatives")
    negative_sampling: str = setting("auto", "uniform, or typed: corrupt within the relation's domain/range "
                                     "(auto: typed under the tail-candidates protocol)",
                                     choices=["auto", "uniform", "typed"])
    filter_negatives: bool = setting(False, "drop sampled negatives that are known true triples", flag="switch")
    loss: str = setting("logistic", "training loss", choices=["logistic", "margin"])
    margin: float = setting(1.0, "margin of the margin loss")
    # see training.trainer.negative_weights
    adversarial_temperature: float | None = setting(
        None, "weight negatives by softmax(T * score), hard ones most (0: uniform)")
    optimizer: str = setting("adam", "optimizer", choices=["adam", "adagrad"])
    lr: float | None = setting(None, "learning rate")
    lr_decay: float = setting(0.5, "lr multiplier after an evaluation without improvement (1: constant)")
    reg: float = setting(0.0, "L2 penalty on batch embeddings")
    # a relation that is another's inverse in the training triples (data.patterns.inverse_relations)
    # uses the scorer's inverse of that one's vector instead of its own
    tie_inverse_relations: bool | None = setting(
        None, "a relation that is another's inverse in the training triples uses that one's vector, inverted",
        flag="on-off")
    p: int = setting(1, "TransE norm", choices=[1, 2])
    seed: int = setting(0, "random seed")
    patience: int = setting(5, "evaluations without improvement before stopping")
    eval_every: int | None = setting(None, "epochs between validation evaluations",
                                     default_text="min(10, epochs / 10)")
    eval_protocol: str = setting("auto", "ranking protocol (auto: tail-candidates for a typed or visual graph, else both)",
                                 choices=["auto", "both", "tail-candidates"])
    # see evaluation.ranking.FILTERS
    eval_filter: str = setting("directed", "filter of other true answers: directed (standard) or undirected (also "
                               "entities linked the other way round by the relation; the VL-KGE authors' released "
                               "evaluation)", choices=["directed", "undirected"])
    eval_max_queries: int = setting(5000, "validation subset size used for early stopping", flag="none")
    modalities: list[str] = setting(["auto"], "comma list of structural,textual,visual", flag="list",
                                    default_text="all the graph has")
    encoder: str = setting("auto", "auto, offline, clip:<hub id or dir>, or imported:<name>")
    fusion: str = setting("average", "how an entity's modality vectors become one", choices=list(FUSIONS))
    # See EntityRepresentation.forward and structural_dropout_for.
    structural_dropout: float | None = setting(
        None, "share of training steps an entity with features hides its structural embedding, so entities "
        "without training triples can be placed from features",
        default_text="0.5; 0 for transe when every entity has training triples")
    device: str = setting("auto", "auto, cpu or cuda")
    # after training, mix the relation's tail frequencies into tail scores with a weight fitted on
    # validation (models.prior, evaluation.prior): skewed collections' "most works are by A"
    frequency_prior: bool = setting(True, "mix each relation's tail frequencies into tail scores, weighted as "
                                    "validation says", flag="on-off")
    # a bias per (relation, tail) trained with the model (models.prior.TailBias): popularity learned
    # jointly rather than mixed in afterwards; the fitted prior above still goes on top
    tail_bias: bool = setting(False, "learn a score bias per (relation, tail entity) with the model", flag="on-off")
    # after training, add the answers of the nearest entities by features to the tail scores of an
    # entity placed from its features (models.neighbours), weighted as validation says
    neighbour_vote: bool = setting(True, "add the answers of the entities nearest by features to the predictions of "
                                   "an entity placed from its features (a new artwork), weighted as validation says",
                                   flag="on-off")
    time_budget_s: float | None = setting(None, "wall-clock limit of the training loop in seconds",
                                          default_text="none: the epochs decide")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A saved run's config; fields it predates take the value its training actually used.
        ``ResolvedConfig.from_dict`` reads back what :func:`resolve` decided for the run."""
        names = {f.name for f in fields(cls)}
        return cls(**{**PREDATED, **{k: v for k, v in d.items() if k in names}})


@dataclass(frozen=True)
class ResolvedConfig(TrainConfig):
    """A TrainConfig with every default decided for one graph (by :func:`resolve`), and the two
    choices the requested ``"auto"`` values came to: what training takes and a run's
    config.json records (every run format has recorded both choices)."""

    eval_protocol_used: str = "both"
    negative_sampling_used: str = "uniform"


def resolve(cfg: TrainConfig, graph: Graph) -> ResolvedConfig:
    """Decide every default of ``cfg`` for ``graph``: the scorer's hyperparameters, the
    evaluation protocol, typed or uniform negatives and how many, structural dropout and the
    modalities. A resolved config comes back as it is.

    Raises VLKGEError for an unknown scorer or a modality the graph does not have."""
    if isinstance(cfg, ResolvedConfig):
        return cfg
    try:
        scorer = scorer_class(cfg.model)
    except ValueError as e:
        raise VLKGEError(str(e)) from None
    values = cfg.to_dict()
    for name, value in {**SHARED_DEFAULTS, **scorer.defaults}.items():
        if values[name] is None:
            values[name] = value
    protocol = default_protocol(graph) if cfg.eval_protocol == "auto" else cfg.eval_protocol
    typed = cfg.negative_sampling == "typed" or (cfg.negative_sampling == "auto" and protocol == "tail-candidates")
    if values["negatives"] is None:
        values["negatives"] = negatives_for(typed)
    if values["structural_dropout"] is None:
        values["structural_dropout"] = structural_dropout_for(cfg.model, bool(graph.train_entities.all()))
    values["modalities"] = resolve_modalities(graph, cfg.modalities)
    if values["epochs"] is None:
        values["epochs"] = default_epochs(len(graph.split("train")))
    if values["eval_every"] is None:
        values["eval_every"] = default_eval_every(values["epochs"])
    return ResolvedConfig(**values, eval_protocol_used=protocol,
                          negative_sampling_used="typed" if typed else "uniform")


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
    """The default structural dropout for a scorer on a graph.

    Structural dropout teaches the projections to place an entity from its features alone, which
    is how entities without training triples, and new ones (predict_new), are represented:
    wikiart-mini (inductive) VL-TransE 0.603 at 0.5, 0.596 at 0.1, 0.543 at 0; VL-RotatE flat over
    0.3-0.7. When every entity has training triples it trades ranking inside the graph against
    placing new entities. WN9-IMG with glosses, test MRR / MRR of hypernym and part-of tails for a
    test synset placed from its gloss alone: RotatE 0.915 / 0.886 at 0.5, 0.922 / 0.781 at 0.1,
    0.924 / 0.611 at 0; TransE 0.627 / 0.688 at 0.5 and 0.909 / 0.311 at 0. Only TransE is worth
    the trade (at 0.5 it ranks far below its structure-only 0.902; its
    ``transductive_structural_dropout``); ComplEx and DistMult lose ranking too without it
    (0.910 -> 0.834, 0.889 -> 0.877).
    """
    return scorer_class(model).transductive_structural_dropout if every_entity_trained else 0.5


def available_modalities(graph: Graph) -> list[str]:
    """structural always; textual when entities carry real text (not just their ids); visual when
    any entity has an image."""
    mods = ["structural"]
    if any(d for d in graph.descriptions) or any(l and l != e for l, e in zip(graph.labels, graph.entities)):
        mods.append("textual")
    if bool(graph.has_image.any()):
        mods.append("visual")
    return mods


def resolve_modalities(graph: Graph, requested: list[str]) -> list[str]:
    have = available_modalities(graph)
    if not requested or list(requested) == ["auto"]:
        return have
    bad = [m for m in requested if m not in MODALITY_CHOICES]
    if bad:
        raise VLKGEError(f"unknown modality {bad[0]!r} (choose from {', '.join(MODALITY_CHOICES)})")
    missing = [m for m in requested if m not in have]
    if missing:
        raise VLKGEError(f"the graph has no {missing[0]} modality (it has: {', '.join(have)})")
    return ["structural"] + [m for m in ("textual", "visual") if m in requested]


# What training did before a field existed, for configs saved by older versions.
PREDATED = {"adversarial_temperature": 0.0, "tie_inverse_relations": False, "frequency_prior": False,
            "tail_bias": False, "neighbour_vote": False}
