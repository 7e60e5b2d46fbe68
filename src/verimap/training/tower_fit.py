"""Train the verifier tower (:mod:`verimap.tower`) and the map network together, on cached lower-layer states.

The stock layers below the tower never change, so each training text goes through them once: its hidden states
after ``start`` layers are kept on disk in fp16 (:class:`HiddenCache`). Each step then runs only the tower and the
network, a third of an end-to-end step's work for a two-layer tower, so a run fits two CPU cores.

Two losses share the tower:

- the pair loss: the network's logit on the (query, candidate) map against the label (binary cross-entropy);
- the meaning loss: an in-batch contrastive loss (InfoNCE) on the tower's own pooled vectors
  (:func:`verimap.tower.token_mean`): each label-1 pair's two texts must be nearer each other than any other text in
  the batch, the other texts of its source item (its hard near-misses, sampled together) included. Texts that share
  a ``cluster`` (the same intent) are never each other's negatives.

Batches are drawn by source item (``group``), so a text's paraphrase and its near-miss meet in one batch; and every
batch keeps real paraphrases (the wave-1 failure: a tuned encoder that traded them away).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from verimap.encoder import TokenEncoder
from verimap.metrics import roc_auc
from verimap.simmap import CHANNELS, structure_maps
from verimap.tower import PREFIX, Tower, token_mean
from verimap.training.examples import Example


class HiddenCache:
    """Every distinct text's stock hidden states after ``start`` layers ([CLS] and [SEP] included), fp16.

    Kept in one flat array (rows of ``dim``) with an offset per text; with ``path`` (a folder) the array and its
    index are written there and a later run with the same encoder, start and max length reads them instead of
    encoding again."""

    def __init__(self, encoder: TokenEncoder, start: int, path: Path | None = None) -> None:
        self.encoder = encoder
        self.start = start
        self.path = path
        self.index: dict[str, tuple[int, int]] = {}  # text hash -> (first row, rows)
        self.data = np.zeros((0, encoder.dim), np.float16)
        if path is not None and (path / "index.json").is_file():
            self.index = {k: tuple(v) for k, v in json.loads((path / "index.json").read_text()).items()}
            rows = sum(n for _, n in self.index.values())
            self.data = np.fromfile(path / "hidden.f16", np.float16).reshape(-1, encoder.dim)[:rows]

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def __contains__(self, text: str) -> bool:
        return self.key(text) in self.index

    @torch.inference_mode()
    def fill(self, texts: Sequence[str], log: Callable[[str], None] = print, step: int = 256) -> None:
        enc = self.encoder
        todo = [t for t in dict.fromkeys(texts) if self.key(t) not in self.index]
        if not todo:
            return
        t0 = time.time()
        ids = enc.tokenizer(todo, add_special_tokens=True, truncation=False)["input_ids"]
        order = sorted(range(len(todo)), key=lambda i: len(ids[i]))
        rows = len(self.data)
        # One allocation of the final size (hundreds of thousands of texts: gigabytes; no second copy).
        grown = np.empty((rows + sum(min(len(x), enc.max_length) for x in ids), self.data.shape[1]), np.float16)
        grown[:rows] = self.data
        self.data = grown
        for s in range(0, len(order), step):
            part = order[s : s + step]
            batch = enc._pad([ids[i] for i in part])
            hidden = enc.model(**batch, output_hidden_states=True).hidden_states[self.start]
            lengths = batch["attention_mask"].sum(1).tolist()
            for row, i in enumerate(part):
                n = int(lengths[row])
                self.data[rows : rows + n] = hidden[row, :n].to(torch.float16).cpu().numpy()
                self.index[self.key(todo[i])] = (rows, n)
                rows += n
            if (s // step) % 100 == 0:
                log(f"  lower layers: {s + len(part)}/{len(todo)} texts ({time.time() - t0:.0f}s)")
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            self.data.tofile(self.path / "hidden.f16")
            (self.path / "index.json").write_text(json.dumps(self.index))
        log(f"  lower layers for {len(todo)} texts in {time.time() - t0:.0f}s ({len(self.data)} token rows)")

    def length(self, text: str) -> int:
        return self.index[self.key(text)][1]

    def batch(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, L, dim)`` float32 hidden states, zero-padded, and the ``(B, L)`` attention mask."""
        spans = [self.index[self.key(t)] for t in texts]
        width = max(n for _, n in spans)
        hidden = np.zeros((len(texts), width, self.data.shape[1]), np.float32)
        mask = np.zeros((len(texts), width), np.float32)
        for i, (s, n) in enumerate(spans):
            hidden[i, :n] = self.data[s : s + n]
            mask[i, :n] = 1
        return torch.from_numpy(hidden), torch.from_numpy(mask)


def tower_tokens(tower: Tower, cache: HiddenCache, texts: Sequence[str]) -> list[torch.Tensor]:
    """Each text's normalised tower token vectors, [CLS]/[SEP] dropped (what the encoder hands the verifier)."""
    hidden, mask = cache.batch(texts)
    out = nn.functional.normalize(tower(hidden, mask), dim=-1)
    lengths = mask.sum(1).long().tolist()
    return [out[i, 1 : n - 1] for i, n in enumerate(lengths)]


def group_batches(
    rows: Sequence[Example], rows_per_batch: int, rng: random.Random, generated_share: float = 1.0
) -> list[list[Example]]:
    """Batches of whole source items (a text's paraphrases and near-misses together), in random order, one pass
    over the human-written items; about ``generated_share`` of each batch's rows come from generated items
    (sources with a ``+``: rules, question forms, tree edits), drawn at random, so people's pairs are never
    drowned by the generated ones however many those are."""
    human: dict[str, list[Example]] = defaultdict(list)
    made: dict[str, list[Example]] = defaultdict(list)
    for r in rows:
        (made if "+" in r.source else human)[r.group].append(r)
    # a source item with dozens of rows (a premise of many hypotheses) would fill a batch
    human_groups = [g[:8] for g in human.values()]
    made_groups = [g[:8] for g in made.values()]
    rng.shuffle(human_groups)
    share = generated_share if human_groups and made_groups else (0.0 if human_groups else 1.0)
    if not human_groups:
        human_groups, made_groups = made_groups, []
    batches, current, made_rows = [], [], 0
    for g in human_groups:
        current += g
        while made_groups and made_rows < share * (len(current)) and len(current) < rows_per_batch:
            extra = rng.choice(made_groups)
            current += extra
            made_rows += len(extra)
        if len(current) >= rows_per_batch:
            batches.append(current)
            current, made_rows = [], 0
    if current:
        batches.append(current)
    return batches


def cosent_loss(cosines: torch.Tensor, labels: torch.Tensor, scale: float = 20.0) -> torch.Tensor | None:
    """CoSENT: every label-0 pair's cosine should sit below every label-1 pair's, across the batch
    (``log(1 + sum exp(scale * (cos_neg - cos_pos)))``). It trains the pooled cosine itself to rank true matches
    above near-misses, which in-batch negatives alone do not (a PAWS near-miss is rarely in its anchor's batch)."""
    pos, neg = cosines[labels > 0], cosines[labels == 0]
    if not len(pos) or not len(neg):
        return None
    diff = (scale * (neg[:, None] - pos[None, :])).flatten()
    return torch.logsumexp(torch.cat([torch.zeros(1), diff]), 0)


def contrastive_loss(
    texts: Sequence[str], pooled: torch.Tensor, rows: Sequence[Example], clusters: dict[str, str], temperature: float
) -> torch.Tensor | None:
    """InfoNCE over the batch's texts for every label-1 row, both directions; ``None`` without a positive."""
    where = {t: i for i, t in enumerate(texts)}
    sims = pooled @ pooled.T / temperature
    n = len(texts)
    anchors, targets = [], []
    positive_of: dict[int, set[int]] = defaultdict(set)
    for r in rows:
        if r.label == 1:
            a, b = where[r.a], where[r.b]
            positive_of[a].add(b)
            positive_of[b].add(a)
            anchors += [a, b]
            targets += [b, a]
    if not anchors:
        return None
    cluster = [clusters.get(t) for t in texts]
    mask = torch.zeros(len(anchors), n, dtype=torch.bool)
    for k, (a, b) in enumerate(zip(anchors, targets)):
        mask[k, a] = True  # itself
        for other in positive_of[a] - {b}:
            mask[k, other] = True  # another true match is no negative
        if cluster[a] is not None:
            for j in range(n):
                if j != b and cluster[j] == cluster[a]:
                    mask[k, j] = True
    logits = sims[anchors].masked_fill(mask, float("-inf"))
    return nn.functional.cross_entropy(logits, torch.tensor(targets))


def pair_inputs(vectors: dict[str, torch.Tensor], rows: Sequence[Example], network, parses, rng):
    """The network's input for ``rows``, each read in a random direction when ``rng`` is given; the pooled
    feature is the cosine of the two texts' token means (detached: the contrastive loss trains those)."""
    qs, ds, qp, dp, pooled = [], [], [], [], []
    for r in rows:
        a, b = r.a, r.b
        if rng is not None and rng.random() < 0.5:
            a, b = b, a
        qs.append(vectors[a])
        ds.append(vectors[b])
        qp.append(parses.get(a) if parses else None)
        dp.append(parses.get(b) if parses else None)
        pooled.append(float(token_mean(vectors[a].detach()) @ token_mean(vectors[b].detach())))
    c = network.config
    return structure_maps(qs, ds, qp, dp, (c.map_rows, c.map_cols), c.channels or CHANNELS, pooled)


@torch.no_grad()
def probe_scores(tower, network, cache: HiddenCache, rows: Sequence[Example], parses=None, step: int = 256):
    """Network logits and tower-pooled cosines of ``rows`` (eval mode, no dropout)."""
    tower.eval()
    network.eval()
    logits, cosines = np.zeros(len(rows), np.float32), np.zeros(len(rows), np.float32)
    order = sorted(range(len(rows)), key=lambda i: cache.length(rows[i].a) + cache.length(rows[i].b))
    for s in range(0, len(order), step):
        part = [rows[i] for i in order[s : s + step]]
        texts = list(dict.fromkeys(t for r in part for t in (r.a, r.b)))
        vectors = dict(zip(texts, tower_tokens(tower, cache, texts)))
        idx = order[s : s + step]
        logits[idx] = network(pair_inputs(vectors, part, network, parses, None)).float().numpy()
        cosines[idx] = [float(token_mean(vectors[r.a]) @ token_mean(vectors[r.b])) for r in part]
    return logits, cosines


def probe_report(rows: Sequence[Example], logits: np.ndarray, cosines: np.ndarray) -> dict[str, dict[str, float]]:
    """Per source (generated rows grouped under their human source's name + "+"), AUC of the network logit and
    of the tower-pooled cosine."""
    labels = np.array([r.label for r in rows])
    out = {}
    for src in sorted({r.source for r in rows}):
        idx = np.array([r.source == src for r in rows])
        if len(set(labels[idx])) == 2:
            out[src] = {
                "auc": round(roc_auc(labels[idx], logits[idx]), 4),
                "pooled_auc": round(roc_auc(labels[idx], cosines[idx]), 4),
            }
    return out


def fit_tower(
    config,
    network: nn.Module,
    encoder: TokenEncoder,
    train_rows: list[Example],
    probe_rows: list[Example],
    clusters: dict[str, str],
    *,
    cache_dir: Path | None,
    log: Callable[[str], None] = print,
    parses: dict | None = None,
    init: dict[str, torch.Tensor] | None = None,
) -> tuple[Tower, dict]:
    """Tune a ``config.tower_layers``-layer tower and ``network`` together for ``config.steps`` steps; the step
    with the best mean probe AUC over the human-written sources is kept (checked every ``config.eval_every``)."""
    t0 = time.time()
    rng = random.Random(config.seed)
    tower = Tower.from_stock(encoder.model, config.tower_layers)
    if init is not None:  # go on from a tuned tower (its tensors as a weights file keeps them)
        tower.load_state_dict({k[len(PREFIX) :]: v.float() for k, v in init.items() if k.startswith(PREFIX)})
    folder = None
    if cache_dir is not None:
        tag = hashlib.sha256(f"{encoder.encoder_id}|{tower.start}|{encoder.max_length}".encode()).hexdigest()[:10]
        folder = Path(cache_dir) / f"hidden-{tag}"
    cache = HiddenCache(encoder, tower.start, folder)
    cache.fill([t for r in train_rows + probe_rows for t in (r.a, r.b)], log=log)
    log(f"hidden states ready after {time.time() - t0:.0f}s")

    opt = torch.optim.AdamW(
        [
            {"params": tower.parameters(), "lr": config.tower_lr, "weight_decay": 0.01},
            {"params": network.parameters(), "lr": config.lr, "weight_decay": config.weight_decay},
        ]
    )
    warmup = max(1, config.steps // 20)

    def factor(step: int) -> float:  # linear warm-up, then cosine decay to 10%
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, config.steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    human = sorted({r.source for r in probe_rows if "+" not in r.source})
    probe_labels = np.array([r.label for r in probe_rows])

    def check(step: int) -> float:
        logits, cosines = probe_scores(tower, network, cache, probe_rows, parses)
        report = probe_report(probe_rows, logits, cosines)
        score = float(np.mean([report[s]["auc"] for s in human if s in report]))
        overall = roc_auc(probe_labels, logits)
        log(
            f"step {step}/{config.steps} probe: human mean {score:.4f}, all {overall:.4f} ({time.time() - t0:.0f}s)\n  "
            + ", ".join(f"{s} {v['auc']:.3f}/{v['pooled_auc']:.3f}" for s, v in report.items())
        )
        history.append({"step": step, "human_mean": round(score, 4), "all": round(overall, 4), "sources": report})
        return score

    history: list[dict] = []
    best = (check(0), None, 0)
    step, losses = 0, []
    while step < config.steps:
        for batch in group_batches(train_rows, config.batch_size, rng, config.generated_share):
            if step >= config.steps:
                break
            tower.train()
            network.train()
            texts = list(dict.fromkeys(t for r in batch for t in (r.a, r.b)))
            vecs = tower_tokens(tower, cache, texts)
            vectors = dict(zip(texts, vecs))
            labels = torch.tensor([r.label for r in batch], dtype=torch.float32)
            logits = network(pair_inputs(vectors, batch, network, parses, rng))
            pos = labels.mean().clamp(0.05, 0.95)
            weights = torch.where(labels > 0, 0.5 / pos, 0.5 / (1 - pos))  # each class half the loss
            loss = nn.functional.binary_cross_entropy_with_logits(logits, labels, weight=weights)
            pooled = torch.stack([token_mean(v) for v in vecs])
            if config.contrastive_weight:
                extra = contrastive_loss(texts, pooled, batch, clusters, config.temperature)
                if extra is not None:
                    loss = loss + config.contrastive_weight * extra
            if config.cosent_weight:
                where = {t: i for i, t in enumerate(texts)}
                a = pooled[[where[r.a] for r in batch]]
                b = pooled[[where[r.b] for r in batch]]
                extra = cosent_loss((a * b).sum(1), labels)
                if extra is not None:
                    loss = loss + config.cosent_weight * extra
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(list(tower.parameters()) + list(network.parameters()), 1.0)
            opt.step()
            sched.step()
            step += 1
            losses.append(loss.item())
            if step % 50 == 0:
                log(f"  step {step} loss {np.mean(losses[-50:]):.4f} ({time.time() - t0:.0f}s)")
            if step % config.eval_every == 0 or step == config.steps:
                score = check(step)
                if score > best[0]:
                    best = (score, (_copy(tower.state_dict()), _copy(network.state_dict())), step)
    if best[1] is not None:
        tower.load_state_dict(best[1][0])
        network.load_state_dict(best[1][1])
    # What ships: fp16 tower tensors (verimap.tower.Tower.state); calibrate on exactly those.
    with torch.no_grad():
        for p in tower.parameters():
            p.copy_(p.half().float())
    tower.eval().requires_grad_(False)
    network.eval()
    log(f"tower: best probe human mean {best[0]:.4f} at step {best[2]} ({time.time() - t0:.0f}s)")
    return tower, {"probe_human_mean": round(best[0], 4), "step": best[2], "history": history}


def _copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}
