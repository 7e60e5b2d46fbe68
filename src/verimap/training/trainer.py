"""Train the verifier network on cached token vectors of a frozen encoder.

The encoder runs once per distinct text (vectors cached on disk as fp16 safetensors); every epoch after
that only builds maps and trains the small network, so a run fits a CPU.

>>> from verimap.training.trainer import TrainConfig
>>> TrainConfig.from_toml_text('epochs = 1\\n[network]\\ndepth = 2').network.depth
2
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from verimap import weights as weights_io

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
from verimap.encoder import TokenEncoder
from verimap.metrics import roc_auc
from verimap.network import NetworkConfig, build_network
from verimap.parse import PARSER_ID
from verimap.simmap import CHANNELS, structure_maps
from verimap.tower import Tower, token_mean
from verimap.training.data import Example, build, default_data_dir, read_user_pairs, split_of
from verimap.training.guard_fit import CACHE_SOURCES, fit_guard


@dataclass
class TrainConfig:
    """Everything a run depends on; stored in the weights card so the run can be repeated."""

    sources: list[str] = field(default_factory=lambda: ["paws_dev", "sugarcrepe", "cad_train", "breaking_nli"])
    rules: bool = True
    light_positives: bool = True
    query_rows: bool = False  # question-form, fragment and passage rows (see data.query_shaped)
    tree_edits: bool = False  # minimal pairs from dependency-tree edits (see data.tree_contrast)
    unrelated_fraction: float = 0.0  # easy negatives: this share of source rows gets an off-topic partner
    kind_cap: int | None = None  # at most this many training rows per (source, kind, label): no kind drowns the rest
    max_train: int | None = None  # cap on training examples (tiny configs, quick trials)
    max_dev: int | None = None
    epochs: int = 8
    batch_size: int = 128
    lr: float = 5e-4
    weight_decay: float = 0.05
    seed: int = 0
    encoder_max_length: int = 128
    target_tar: float = 0.95  # default threshold accepts this share of dev positives
    fuse_weight: float = 0.5
    init_weights: str | None = None  # start from these weights (fine-tuning); "shipped" = the packaged ones
    tower_from: str | None = None  # train a new network on the (frozen) tower of these weights ("shipped": packaged)
    tower_int8: bool = False  # with tower_from: the token path in int8 (TokenEncoder.with_tower), trained on as such
    # End-to-end: LoRA on a verifier-side encoder copy, trained through the network (0 = frozen encoder).
    adapter_rank: int = 0
    adapter_alpha: float = 16.0
    encoder_lr: float = 2e-4
    head_lr: float | None = None  # the network's learning rate in the end-to-end stage (None: ``lr``)
    probe_rows: int = 800  # dev rows scored at each end-to-end check (overall and per-source AUC logged)
    select_on: str = (
        "all"  # end-to-end checkpoint chosen on the probe's AUC over "all" rows or the "human"-written sources' mean
    )
    steps: int = 0  # end-to-end optimisation steps (the frozen path uses epochs)
    end_to_end_batch_size: int = 16  # pairs per end-to-end step (the encoder's backward pass dominates)
    eval_every: int = 200
    # The verifier tower (verimap.tower): a tuned copy of the encoder's top ``tower_layers`` layers, trained with
    # the network for ``steps`` steps on cached lower-layer states (training/tower_fit.py). 0 = no tower.
    tower_layers: int = 0
    tower_lr: float = 3e-5
    contrastive_weight: float = 1.0  # weight of the in-batch contrastive loss on the tower's pooled vectors
    temperature: float = 0.05  # of that loss
    cosent_weight: float = 1.0  # weight of the CoSENT loss: near-misses' pooled cosines below true matches'
    generated_share: float = 0.3  # share of each tower batch drawn from generated rows (rules, questions, tree edits)
    codec_texts: int = 24_000  # training texts the shipped token-file codec is fitted on (training/codec_fit.py)
    network: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self) -> None:
        if self.select_on not in ("all", "human"):
            raise ValueError(f"select_on must be 'all' or 'human', got {self.select_on!r}")

    @classmethod
    def from_toml_text(cls, text: str) -> TrainConfig:
        data = tomllib.loads(text)
        net = NetworkConfig.from_dict(data.pop("network", {}))
        known = {f for f in cls.__dataclass_fields__} - {"network"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown training config keys: {sorted(unknown)}")
        return cls(network=net, **data)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        return cls.from_toml_text(Path(path).read_text())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["network"] = self.network.to_dict()
        return d


class VectorCache:
    """Every distinct text's token vectors, pooled vector and parse, encoded and parsed once, kept in memory exactly
    as the inference token cache stores them (int8 vectors, fp16 pooled: training sees what inference reads), and
    persisted in a token file (``path``) so a second run reads instead of encoding."""

    def __init__(self, encoder: TokenEncoder, path: Path | None) -> None:
        from verimap.cache import TokenCache

        self.cache = TokenCache(0, path=path) if path is not None else TokenCache(2**40)
        self.encoder = encoder.with_cache(self.cache)
        self.path = path
        self.entries: dict[str, object] = {}

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def fill(self, texts: Sequence[str], progress: bool = True) -> None:
        from tqdm import tqdm

        from verimap.cache import cache_key

        todo = [t for t in dict.fromkeys(texts) if self.key(t) not in self.entries]
        step = 512
        for start in tqdm(range(0, len(todo), step), desc="encoding + parsing", disable=not progress or not todo):
            chunk = todo[start : start + step]
            self.encoder.encode(chunk, warn=False, persist=self.path)
            keys = [cache_key(self.encoder.encoder_id, self.encoder.max_length, t) for t in chunk]
            for t, e in zip(chunk, self.cache.get_many(keys)):
                self.entries[self.key(t)] = e

    @property
    def vectors(self) -> dict[str, object]:
        return self.entries

    def __getitem__(self, text: str):
        """``(vectors (n, dim) float32, pooled (dim,), parse)`` of a filled text."""
        from verimap.cache import decompress

        e = self.entries[self.key(text)]
        return e.token_vectors(), decompress(e.pooled[None].astype(np.float32))[0], e.parse


def batch_maps(cache: VectorCache, batch: Sequence[Example], config: NetworkConfig, rng: random.Random | None):
    """The network's input for a batch; with ``rng``, each pair is read in a random direction (the task is
    symmetric)."""
    qs, ds, qp, dp, pooled = [], [], [], [], []
    for ex in batch:
        a, b = cache[ex.a], cache[ex.b]
        if rng is not None and rng.random() < 0.5:
            a, b = b, a
        qs.append(a[0])
        ds.append(b[0])
        qp.append(a[2])
        dp.append(b[2])
        pooled.append(float(token_mean(a[0]) @ token_mean(b[0])) if config.pooled == "tokens" else float(a[1] @ b[1]))
    return structure_maps(qs, ds, qp, dp, (config.map_rows, config.map_cols), CHANNELS, pooled)


def length_batches(
    cache: VectorCache, rows: Sequence[Example], batch_size: int, rng: random.Random | None
) -> list[list[Example]]:
    """Batches of pairs of similar length (the networks crop each batch to its longest pair, so mixing a 10-token
    pair with a 60-token one wastes most of the work), in random order when ``rng`` is given."""

    def size(r: Example) -> float:
        n = len(cache.entries[cache.key(r.a)].vectors) + len(cache.entries[cache.key(r.b)].vectors)
        return n + (rng.random() * 6 if rng is not None else 0.0)

    order = sorted(range(len(rows)), key=lambda i: size(rows[i]))
    batches = [[rows[i] for i in order[s : s + batch_size]] for s in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


@torch.no_grad()
def logits_of(net, cache: VectorCache, rows: Sequence[Example], batch_size: int = 256) -> np.ndarray:
    net.eval()
    device = next(net.parameters()).device
    order = sorted(
        range(len(rows)),
        key=lambda i: (
            len(cache.entries[cache.key(rows[i].a)].vectors) + len(cache.entries[cache.key(rows[i].b)].vectors)
        ),
    )
    out = np.zeros(len(rows), dtype=np.float32)
    for s in range(0, len(order), batch_size):
        chunk = order[s : s + batch_size]
        out[chunk] = net(batch_maps(cache, [rows[i] for i in chunk], net.config, None).to(device)).float().cpu().numpy()
    return out


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Scale and bias so that sigmoid(scale * logit + bias) is calibrated on these labels."""
    x = torch.tensor(logits, dtype=torch.float64)
    y = torch.tensor(labels, dtype=torch.float64)
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        p[0] = 1.0
    opt = torch.optim.LBFGS([p], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(p[0] * x + p[1], y)
        loss.backward()
        return loss

    opt.step(closure)
    return {"scale": p[0].item(), "bias": p[1].item()}


LICENCES = {
    "paws_dev": "PAWS: free for any purpose (Google)",
    "sugarcrepe": "SugarCrepe: MIT; COCO captions CC BY 4.0",
    "cad_train": "CAD-SNLI: Apache-2.0; SNLI CC BY-SA 4.0",
    "breaking_nli": "Breaking-NLI: CC BY-SA 4.0",
    "banking77_train": "Banking77 (Casanueva et al., 2020, PolyAI): CC BY 4.0, attribution",
    "clinc150_train": "CLINC150 (Larson et al., 2019), train + val: CC BY 3.0, attribution",
    "massive_en_us_train": "MASSIVE en-US (FitzGerald et al., 2022, Amazon), train + validation: CC BY 4.0, attribution",
    "snli_dev": "SNLI dev (Bowman et al., 2015), via e-SNLI: CC BY-SA 4.0",
    "mnli_dev_matched": "MultiNLI dev matched (Williams et al., 2018), via tommccoy1/hans: OANC and the MultiNLI "
    "licences (free to use and redistribute)",
    "mnli_train_heuristic": "MultiNLI train, the HANS authors' high-overlap contradictions: as MultiNLI",
    "prompts": "templated cache prompts written for verimap (training/prompt_pairs.py): Apache-2.0",
}


def licence_of(data_desc: dict) -> dict:
    """What the training data's licences imply for the weights (see shared/data/SOURCES.md)."""
    if "user_pairs" in data_desc:
        return {"data": "user-supplied pairs: their licence applies"}
    sources = data_desc["sources"]
    unknown = [s for s in sources if s not in LICENCES]
    share_alike = [s for s in sources if "BY-SA" in LICENCES.get(s, "")]
    return {
        "data": [LICENCES.get(s, f"{s}: see SOURCES.md (not cleared for shipped weights)") for s in sources],
        "weights": "CC BY-SA 4.0 (share-alike training data)" if share_alike else "Apache-2.0",
        "not_cleared": unknown,
    }


def cached_build(data_dir, config: TrainConfig, cache_dir: Path | None) -> dict[str, list[Example]]:
    """:func:`~verimap.training.data.build` for this config, kept as JSON lines in ``cache_dir`` (tree edits parse
    every anchor: minutes a run; the rows depend only on the data files and these settings)."""
    kwargs = {
        "seed": config.seed,
        "rules": config.rules,
        "light_positives": config.light_positives,
        "query_rows": config.query_rows,
        "tree_edits": config.tree_edits,
        "unrelated_fraction": config.unrelated_fraction,
    }
    dirs = [data_dir] if isinstance(data_dir, (str, Path)) else list(data_dir)
    stamp = [[str(f), f.stat().st_size, f.stat().st_mtime] for d in dirs for f in sorted(Path(d).rglob("*.jsonl*"))]
    key = hashlib.sha256(json.dumps([config.sources, kwargs, stamp], sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"rows-{key}.jsonl" if cache_dir is not None else None
    if path is not None and path.is_file():
        split: dict[str, list[Example]] = {"train": [], "dev": []}
        with open(path, encoding="utf-8") as f:
            for line in f:
                side, row = json.loads(line)
                split[side].append(Example(**row))
        return split
    split = build(data_dir, config.sources, **kwargs)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            for side, rows in split.items():
                for r in rows:
                    f.write(json.dumps([side, r.to_dict()]) + "\n")
    return split


def load_split(
    config: TrainConfig,
    data_dir: Path | None,
    user_pairs: Path | None,
    rng: random.Random,
    cache_dir: Path | None = None,
):
    if user_pairs is not None:
        rows = read_user_pairs(user_pairs)
        split = {
            "train": [r for r in rows if split_of(r.group) == "train"],
            "dev": [r for r in rows if split_of(r.group) == "dev"],
        }
        data_desc = {"user_pairs": str(user_pairs)}
    else:
        split = cached_build(data_dir or default_data_dir(), config, cache_dir)
        data_desc = {
            "sources": config.sources,
            "rules": config.rules,
            "light_positives": config.light_positives,
            "query_rows": config.query_rows,
            "tree_edits": config.tree_edits,
            "unrelated_fraction": config.unrelated_fraction,
            "kind_cap": config.kind_cap,
        }
    train_rows, dev_rows = split["train"], split["dev"]
    rng.shuffle(train_rows)
    rng.shuffle(dev_rows)
    if config.kind_cap:
        seen: dict[tuple, int] = {}
        capped = []
        for r in train_rows:
            k = (r.source, r.kind, r.label)
            seen[k] = seen.get(k, 0) + 1
            if seen[k] <= config.kind_cap:
                capped.append(r)
        train_rows = capped
    if config.max_train and len(train_rows) > config.max_train:
        # People's rows first: the cap drops generated rows (rules, question forms, tree edits) before any of them.
        human = [r for r in train_rows if "+" not in r.source][: config.max_train]
        made = [r for r in train_rows if "+" in r.source][: config.max_train - len(human)]
        train_rows = human + made
        rng.shuffle(train_rows)
    dev_rows = dev_rows[: config.max_dev] if config.max_dev else dev_rows
    if not train_rows or not dev_rows or len({r.label for r in dev_rows}) < 2:
        raise ValueError(
            f"need training rows and dev rows of both labels (train {len(train_rows)}, dev {len(dev_rows)})"
        )
    return train_rows, dev_rows, data_desc


def train(
    config: TrainConfig,
    out: str | Path,
    *,
    data_dir: Path | None = None,
    user_pairs: Path | None = None,
    cache_dir: Path | None = Path(".cache"),
    log: Callable[[str], None] = print,
    command: str | None = None,
    device: str = "cpu",
) -> dict:
    """Train, calibrate on dev, pick the threshold on dev, save weights + card; return the card's metrics.

    ``device`` runs the encoder and the network there (e.g. ``"cuda"`` for end-to-end runs); the saved weights
    are CPU tensors either way, and the same config reproduces on a CPU, only slower."""
    t0 = time.time()
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    train_rows, dev_rows, data_desc = load_split(config, data_dir, user_pairs, rng, cache_dir)
    log(f"train {len(train_rows)} (pos {sum(r.label for r in train_rows)}), dev {len(dev_rows)}")
    # No shared token cache: training keeps its own (VectorCache), and an LRU would only churn.
    encoder = stock = TokenEncoder(max_length=config.encoder_max_length, device=device, cache=False)
    stock_id = encoder.encoder_id
    adapter_state = None
    tower_card = codec_card = tower_init = None
    if config.init_weights:
        init = weights_io.SHIPPED if config.init_weights == "shipped" else config.init_weights
        net, init_card, init_adapter = weights_io.load(init, encoder_id=encoder.encoder_id)
        config.network = net.config
        if init_card.adapter:  # keep fine-tuning the adapter it came with
            config.adapter_rank = int(init_card.adapter["rank"])
            config.adapter_alpha = float(init_card.adapter["alpha"])
            adapter_state = init_adapter
        if init_card.tower:  # the network learns on the tower it came with (kept as it is)
            tower_card, codec_card, adapter_state = init_card.tower, init_card.codec, init_adapter
            tower = Tower.from_state(encoder.model, int(tower_card["layers"]), init_adapter)
            encoder = encoder.with_tower(tower, int8=bool(tower_card.get("int8")))
            config.tower_layers = 0
    else:
        net = build_network(config.network)
        if config.tower_from:
            source = weights_io.SHIPPED if config.tower_from == "shipped" else config.tower_from
            source_net, source_card, adapter_state = weights_io.load(source, encoder_id=encoder.encoder_id)
            if not source_card.tower:
                raise ValueError(f"tower_from: {source} has no tower")
            if config.tower_layers and config.steps:  # go on tuning that tower (and its network, if the same shape)
                tower_init = adapter_state
                if source_net.config == net.config:
                    net.load_state_dict(source_net.state_dict())
            else:  # a new network over that tower, frozen (the speed/quality frontier)
                tower_card, codec_card = {**source_card.tower, "int8": config.tower_int8}, source_card.codec
                tower = Tower.from_state(encoder.model, int(tower_card["layers"]), adapter_state)
                encoder = encoder.with_tower(tower, int8=config.tower_int8)
    if not weights_io.needs_parse(net.config):
        encoder = encoder.with_parser(None)
    net.to(device)
    pos_frac = sum(r.label for r in train_rows) / len(train_rows)
    pos_weight = torch.tensor((1 - pos_frac) / max(pos_frac, 1e-6), device=device)
    dev_labels = np.array([r.label for r in dev_rows])
    size = (config.network.map_rows, config.network.map_cols)

    # Stage 1 (epochs > 0): the network on cached maps of the frozen encoder.
    best: dict = {}
    adapter = None
    if config.epochs:
        cache_path = None
        if cache_dir is not None:
            tag = hashlib.sha256(encoder.encoder_id.encode()).hexdigest()[:8]
            cache_path = Path(cache_dir) / f"tokens-{tag}-{config.encoder_max_length}.sqlite"
        dev_cache = VectorCache(encoder, cache_path)
        dev_cache.fill([t for r in train_rows + dev_rows for t in (r.a, r.b)])
        log(f"vectors ready ({len(dev_cache.vectors)} texts) after {time.time() - t0:.0f}s")
        best["frozen"] = _fit_frozen(
            config, net, dev_cache, train_rows, dev_rows, dev_labels, pos_weight, size, rng, log, t0
        )
    # Stage 2 (adapter_rank > 0 and steps > 0): LoRA on a verifier-side encoder copy, end to end.
    # Stage 2' (tower_layers > 0): the tower and the network together on cached lower-layer states.
    if config.tower_layers and config.steps:
        from verimap.training.tower_fit import fit_tower

        probe = probe_sample(dev_rows, config.probe_rows, rng)
        clusters = {t: r.cluster for r in train_rows + dev_rows if r.cluster for t in (r.a, r.b)[: 1 + r.label]}
        tower, best["tower"] = fit_tower(
            config, net, encoder, train_rows, probe, clusters, cache_dir=cache_dir, log=log, init=tower_init
        )
        best["tower"].pop("history")  # logged at every check; the card keeps the chosen step
        adapter_state, tower_card = tower.state(), {"layers": config.tower_layers}
        dev_cache = VectorCache(encoder.with_tower(tower), None)
    if config.adapter_rank and config.steps:
        adapter = {"rank": config.adapter_rank, "alpha": config.adapter_alpha}
        tuned = encoder.with_adapter(adapter, adapter_state)
        best["end_to_end"] = _fit_end_to_end(
            config, net, tuned, train_rows, dev_rows, dev_labels, pos_weight, rng, log, t0
        )
        from verimap.lora import lora_state

        adapter_state = {k: v.cpu() for k, v in lora_state(tuned.model).items()}
        dev_cache = VectorCache(tuned, None)
    if not best:
        raise ValueError("nothing to train: set epochs (frozen encoder) and/or adapter_rank with steps (LoRA)")

    net.eval()
    dev_cache.fill([t for r in dev_rows for t in (r.a, r.b)], progress=False)
    dev_logits = logits_of(net, dev_cache, dev_rows)
    calibration = fit_platt(dev_logits, dev_labels)
    probs = 1 / (1 + np.exp(-(calibration["scale"] * dev_logits + calibration["bias"])))
    threshold, threshold_fit = ranker_threshold(probs, dev_rows, config.target_tar)
    per_source = {}
    for src in sorted({r.source for r in dev_rows}):
        idx = np.array([r.source == src for r in dev_rows])
        auc_src = roc_auc(dev_labels[idx], probs[idx])
        per_source[src] = {
            "n": int(idx.sum()),
            "auc": None if math.isnan(auc_src) else auc_src,
            "accept_rate": float((probs[idx] >= threshold).mean()),
        }
    metrics = {"dev_auc": roc_auc(dev_labels, dev_logits), "best": best, "dev_per_source": per_source}
    card = weights_io.Card(
        encoder=stock_id,
        network=net.config,
        calibration=calibration,
        threshold=round(threshold, 4),
        fuse_weight=config.fuse_weight,
        adapter=adapter,
        tower=tower_card,
        codec=codec_card,
        parser=PARSER_ID if weights_io.needs_parse(net.config) else None,
        extra={
            "data": data_desc,
            "split": "dev = sha256(source item) < 0.2 (or the source's own val split); calibration and threshold fitted on dev",
            "threshold_fit": threshold_fit,
            "metrics": metrics,
            "seed": config.seed,
            "license": licence_of(data_desc),
            "command": command,
            "train_config": config.to_dict(),
            "train_rows": len(train_rows),
            "dev_rows": len(dev_rows),
            "train_seconds": round(time.time() - t0),
        },
    )
    weights_io.save(net.cpu(), card, out, adapter_state)
    log(f"saved {out} (threshold {threshold:.3f}, dev AUC {metrics['dev_auc']:.4f}) in {time.time() - t0:.0f}s")
    if tower_card and (codec_card is None or config.tower_int8) and user_pairs is None:
        # Weights with a new tower get a token-file codec fitted on tens of thousands of training texts' token
        # vectors (a frozen fp32 tower keeps the codec it came with: its vectors did not change).
        from verimap.training.codec_fit import fit_codec, training_texts

        texts = training_texts(data_dir or default_data_dir(), config.sources, config.codec_texts, config.seed)
        section = fit_codec(out, texts)
        log(f"codec fitted on {section['texts']} training texts ({section['tokens']} token vectors)")
    if set(config.sources) & set(CACHE_SOURCES) and not config.adapter_rank:
        # Weights that saw prompt-prompt pairs get the cache guard's own threshold (training/guard_fit.py).
        section = fit_guard(out, data_dir, target_tar=config.target_tar, encoder=stock)  # weights pick their tower
        log(f"guard threshold {section['threshold']} (cache-shaped dev AUC {section['dev_auc']})")
    return metrics


def probe_sample(rows: Sequence[Example], size: int, rng: random.Random) -> list[Example]:
    """About ``size`` dev rows with every source represented: an equal share per source (all of a small one)."""
    by_source: dict[str, list[Example]] = {}
    for r in rows:
        by_source.setdefault(r.source, []).append(r)
    share = max(1, size // max(1, len(by_source)))
    out = [r for group in by_source.values() for r in rng.sample(group, min(share, len(group)))]
    rng.shuffle(out)
    return out


QUERY_PASSAGE = ("+question", "+fragment", "+passage")  # generated query–passage rows (data.query_shaped)


def ranker_threshold(probs: np.ndarray, dev_rows: Sequence[Example], target_tar: float) -> tuple[float, dict]:
    """The ranker's default threshold and how it was fitted.

    A ranker decides whether a passage answers a query, not whether two sentences are paraphrases: where dev has
    query–passage rows (a question, a fragment or a sentence inside a passage, against the passage that holds the
    answer and against the same passage edited into a near-miss), the threshold maximises accepted matches minus
    accepted near-misses on them (Youden's J). Without such rows (your own pairs), it accepts ``target_tar`` of the
    human-written dev positives (:func:`default_threshold`)."""
    labels = np.array([r.label for r in dev_rows])
    qp = np.array([r.source.endswith(QUERY_PASSAGE) for r in dev_rows])
    if not qp.any() or len(set(labels[qp])) < 2:
        t = default_threshold(probs, dev_rows, target_tar)
        return t, {"rule": f"accepts {target_tar:.0%} of human-written dev positives"}
    p, y = probs[qp], labels[qp]
    candidates = np.unique(np.round(p, 4))
    j = [(np.mean(p[y == 1] >= c) - np.mean(p[y == 0] >= c), c) for c in candidates]
    t = float(max(j)[1])
    return t, {
        "rule": "Youden's J on query–passage dev rows (question / fragment / passage vs the same near-miss)",
        "rows": int(qp.sum()),
        "accept": round(float(np.mean(p[y == 1] >= t)), 4),
        "false_accept": round(float(np.mean(p[y == 0] >= t)), 4),
    }


def default_threshold(probs: np.ndarray, dev_rows: Sequence[Example], target_tar: float) -> float:
    """The threshold that accepts ``target_tar`` of the dev positives written by people (sources without a
    ``+``: PAWS, Breaking-NLI, user pairs). Generated positives (question forms, fragments, near-copies) are
    easier and would set it too high for real paraphrases; they are used only when no human positive exists."""
    labels = np.array([r.label for r in dev_rows])
    human = (labels == 1) & np.array(["+" not in r.source for r in dev_rows])
    return float(np.quantile(probs[human if human.any() else labels == 1], 1 - target_tar))


def _fit_frozen(config, net, cache, train_rows, dev_rows, dev_labels, pos_weight, size, rng, log, t0) -> dict:
    """Epochs over cached maps; keeps the epoch with the best dev AUC."""
    steps = math.ceil(len(train_rows) / config.batch_size) * config.epochs
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps, pct_start=0.1)
    best = (-1.0, None, 0)
    for epoch in range(config.epochs):
        net.train()
        total = 0.0
        for batch in length_batches(cache, train_rows, config.batch_size, rng):
            inputs = batch_maps(cache, batch, config.network, rng)
            y = torch.tensor([r.label for r in batch], dtype=torch.float32, device=pos_weight.device)
            logits = net(inputs.to(y.device))
            loss = nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            sched.step()
            total += loss.item() * len(batch)
        dev_logits = logits_of(net, cache, dev_rows)
        auc = roc_auc(dev_labels, dev_logits)
        log(
            f"epoch {epoch + 1}/{config.epochs} loss {total / len(train_rows):.4f} dev AUC {auc:.4f} ({time.time() - t0:.0f}s)"
        )
        log(
            "  dev AUC per source: "
            + ", ".join(
                f"{src} {roc_auc(dev_labels[idx], dev_logits[idx]):.3f}"
                for src in sorted({r.source for r in dev_rows})
                if len(set(dev_labels[idx := np.array([r.source == src for r in dev_rows])])) == 2
            )
        )
        if auc > best[0]:
            best = (auc, {k: v.clone() for k, v in net.state_dict().items()}, epoch + 1)
    net.load_state_dict(best[1])
    return {"dev_auc": best[0], "epoch": best[2]}


def _fit_end_to_end(config, net, tuned, train_rows, dev_rows, dev_labels, pos_weight, rng, log, t0) -> dict:
    """LoRA and network trained together through the maps; dev AUC checked every ``eval_every`` steps on a
    fixed dev sample, and the best checkpoint kept."""
    size = (config.network.map_rows, config.network.map_cols)
    lora = [p for p in tuned.model.parameters() if p.requires_grad]
    head_lr = config.lr if config.head_lr is None else config.head_lr
    opt = torch.optim.AdamW(
        [{"params": net.parameters(), "lr": head_lr}, {"params": lora, "lr": config.encoder_lr}],
        weight_decay=config.weight_decay,
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[head_lr, config.encoder_lr], total_steps=config.steps, pct_start=0.1
    )
    probe = dev_rows[: config.probe_rows]
    probe_labels = np.array([r.label for r in probe])
    human = sorted({r.source for r in probe if "+" not in r.source})

    def dev_auc() -> float:
        cache = VectorCache(tuned, None)
        cache.fill([t for r in probe for t in (r.a, r.b)], progress=False)
        logits = logits_of(net, cache, probe)
        # Per-source AUC of the human-written sources: the in-distribution mean can rise while they fall.
        per_source = {}
        for src in human:
            idx = np.array([r.source == src for r in probe])
            per_source[src] = roc_auc(probe_labels[idx], logits[idx])
        log("  probe per source: " + ", ".join(f"{k} {v:.3f}" for k, v in per_source.items()))
        if config.select_on == "human":
            return float(np.nanmean(list(per_source.values())))
        return roc_auc(probe_labels, logits)

    def snapshot():
        return (
            {k: v.clone() for k, v in net.state_dict().items()},
            {k: v.clone() for k, v in tuned.model.state_dict().items() if ".lora_" in k},
        )

    best = (dev_auc(), snapshot(), 0)
    log(f"step 0 dev-probe AUC ({config.select_on}) {best[0]:.4f} ({time.time() - t0:.0f}s)")
    position = 0
    for step in range(1, config.steps + 1):
        net.train()
        tuned.model.train()
        if position + config.end_to_end_batch_size > len(train_rows):
            rng.shuffle(train_rows)
            position = 0
        batch = train_rows[position : position + config.end_to_end_batch_size]
        position += config.end_to_end_batch_size
        texts = list(dict.fromkeys(t for r in batch for t in (r.a, r.b)))
        vecs = dict(zip(texts, tuned.token_vectors(texts)))
        parses = dict(zip(texts, (e.parse for e in tuned.encode(texts, warn=False))))  # cached after the first time
        qs, ds, qp, dp, pooled = [], [], [], [], []
        for r in batch:
            a, b = r.a, r.b
            if rng.random() < 0.5:
                a, b = b, a
            qs.append(vecs[a])
            ds.append(vecs[b])
            qp.append(parses[a])
            dp.append(parses[b])
            pooled.append(
                float(
                    torch.nn.functional.normalize(vecs[a].detach().mean(0), dim=0)
                    @ torch.nn.functional.normalize(vecs[b].detach().mean(0), dim=0)
                )
            )
        inputs = structure_maps(qs, ds, qp, dp, size, CHANNELS, pooled)
        maps = inputs.maps
        y = torch.tensor([r.label for r in batch], dtype=torch.float32, device=maps.device)
        loss = nn.functional.binary_cross_entropy_with_logits(net(inputs), y, pos_weight=pos_weight)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(list(net.parameters()) + lora, 1.0)
        opt.step()
        sched.step()
        if step % config.eval_every == 0 or step == config.steps:
            tuned.model.eval()
            auc = dev_auc()
            log(f"step {step}/{config.steps} loss {loss.item():.4f} dev-probe AUC {auc:.4f} ({time.time() - t0:.0f}s)")
            if auc > best[0]:
                best = (auc, snapshot(), step)
    net.load_state_dict(best[1][0])
    tuned.model.load_state_dict(best[1][1], strict=False)
    tuned.model.eval()
    return {"dev_probe_auc": best[0], "step": best[2]}
