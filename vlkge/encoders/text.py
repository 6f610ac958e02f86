"""Text feature models made from the packaged all-MiniLM-L6-v2 (no download, ever).

* ``transformer``: MiniLM itself (sentence-transformers, mean pooling). ~50 short texts per
  CPU-second: a 70k-object catalogue waits many minutes for its titles.
* ``static``: a token table distilled from it on first use (the model2vec recipe, done here with
  the installed transformers: model2vec's own distiller pins an older transformers). Each
  vocabulary token is run through MiniLM alone, as the one-token sentence ``[CLS] tok [SEP]``; a
  text is then the weighted mean of its tokens' rows, weights ``a / (a + p)`` with ``p`` a
  Zipf estimate of the token's frequency from its vocabulary rank (SIF: frequent sub-words
  count less), less the mean vector of common words (see ``StaticText.centred``). Thousands of
  texts per CPU-second once the tokens are distilled; the table is cached, keyed by the model
  files and this module's source.
"""
from __future__ import annotations

import hashlib
import logging
import os
from functools import cached_property
from pathlib import Path

import torch

from ..errors import VLKGEError
from ..paths import cache_root
from ..runs import atomic_save_tensors
from .base import l2_normalise, quiet_weight_loading

log = logging.getLogger(__name__)
TEXT_MODELS = ("static", "transformer")
SIF = 1e-3
MAX_TOKENS = 256  # the transformer's own truncation (all-MiniLM-L6-v2 max_seq_length)
# The 2,000 tokens from "the" on, the most frequent of the uncased BERT WordPiece vocabulary (it
# lists them roughly by frequency after the special tokens and characters): their mean is the
# component every token shares, fixed by the model so a text's vector never depends on others.
COMMON_WORDS = torch.arange(1996, 3996)


def model_revision(model_dir: Path) -> str:
    """Changes when the model's weights, tokenizer or this module change."""
    h = hashlib.sha256()
    for name in ("config.json", "tokenizer.json"):
        h.update((model_dir / name).read_bytes())
    st = (model_dir / "model.safetensors").stat()
    h.update(f"{st.st_size}".encode())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:12]


class TransformerText:
    """MiniLM through sentence-transformers."""

    def __init__(self, model_dir: Path, device: str, batch_size: int = 64):
        self.model_dir, self.device, self.batch_size = model_dir, device, batch_size
        self._model = None

    def model(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            try:
                with quiet_weight_loading():
                    self._model = SentenceTransformer(str(self.model_dir), device=self.device,
                                                      local_files_only=True)
            except Exception as e:  # a broken install should read as one line, not a traceback
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise VLKGEError(f"cannot load MiniLM from {self.model_dir}: {msg}") from None
        return self._model

    def encode(self, texts: list[str]) -> torch.Tensor:
        # encode() sorts its input by length, so one call pads each batch only to its neighbours
        with torch.inference_mode():
            emb = self.model().encode(list(texts), batch_size=self.batch_size, convert_to_tensor=True,
                                      normalize_embeddings=True, show_progress_bar=False)
        return l2_normalise(emb.cpu())


class StaticText:
    """The distilled token table (see the module docstring). Rows are distilled on demand, for
    the tokens the texts at hand use (a catalogue's titles use a few thousand of the 30,522), and
    kept in one cache file that grows as new tokens appear."""

    def __init__(self, model_dir: Path, device: str = "cpu"):
        self.model_dir, self.device = model_dir, device
        self._tokenizer = None
        self._bert = None
        self._table: torch.Tensor | None = None  # [vocab, 384]; rows not yet distilled are 0
        self._known: torch.Tensor | None = None  # bool [vocab]
        self._centred: torch.Tensor | None = None
        self.distilled = 0  # rows distilled by this object (the rest came from the cache)

    def tokenizer(self):
        if self._tokenizer is None:
            from tokenizers import Tokenizer
            tok = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            tok.no_padding()
            tok.enable_truncation(MAX_TOKENS)
            self._tokenizer = tok
        return self._tokenizer

    def table_path(self) -> Path:
        return cache_root() / "encoders" / f"minilm-static-{model_revision(self.model_dir)}.safetensors"

    def _load(self) -> None:
        vocab = self.tokenizer().get_vocab_size()
        self._table = torch.zeros(vocab, 384)
        self._known = torch.zeros(vocab, dtype=torch.bool)
        try:
            from safetensors.torch import load_file
            t = load_file(str(self.table_path()))
            ids, rows = t["ids"].long(), t["rows"].float()
            if ids.dim() != 1 or rows.shape != (len(ids), 384) or (len(ids) and (ids.min() < 0 or ids.max() >= vocab)):
                raise ValueError("not a token table")
            self._table[ids], self._known[ids] = rows, True
        except FileNotFoundError:
            pass
        except Exception as e:  # damaged or foreign: distil again what is needed
            log.warning("%s: unusable static text table ignored (%s)", self.table_path(), e)

    @torch.inference_mode()
    def _distil(self, ids: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """MiniLM's mean-pooled vector of each token as the sentence ``[CLS] tok [SEP]``."""
        if self._bert is None:
            self._bert = TransformerText(self.model_dir, self.device).model()[0].auto_model
        tok = self.tokenizer()
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        rows = []
        bar = None
        if len(ids) > 4 * batch_size:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(ids), desc="distilling static text tokens (cached)", unit="token", leave=False)
        for s in range(0, len(ids), batch_size):
            b = ids[s:s + batch_size]
            inp = torch.stack([torch.full_like(b, cls), b, torch.full_like(b, sep)], 1).to(self.device)
            out = self._bert(input_ids=inp, attention_mask=torch.ones_like(inp)).last_hidden_state
            rows.append(torch.nn.functional.normalize(out.mean(1).float().cpu(), dim=1))
            if bar is not None:
                bar.update(len(b))
        if bar is not None:
            bar.close()
        return torch.cat(rows)

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """The table, with every token of ``ids`` distilled (and the cache file updated)."""
        if self._table is None:
            self._load()
        need = torch.unique(ids)
        need = need[~self._known[need]]
        if len(need):
            self._table[need] = self._distil(need)
            self._known[need] = True
            self.distilled += len(need)
            known = torch.nonzero(self._known).squeeze(1)
            try:
                atomic_save_tensors(self.table_path(), {"ids": known, "rows": self._table[known]})
            except OSError as e:
                log.info("static text table not cached (%s): %s", self.table_path(), e)
        return self._table

    @cached_property
    def weights(self) -> torch.Tensor:
        vocab = self.tokenizer().get_vocab_size()
        p = 1.0 / torch.arange(2, vocab + 2, dtype=torch.float64)  # Zipf by vocabulary rank
        return (SIF / (SIF + p / p.sum())).float()

    def centred(self, ids: torch.Tensor) -> torch.Tensor:
        """The table minus the mean row of common words, with ``ids`` distilled. Every token's
        vector shares one large component; without it titles are told apart much better
        (wikiart-mini 10-NN style accuracy of titles 0.49 -> 0.54, MiniLM itself 0.56)."""
        before = self.distilled
        table = self.rows(torch.cat([ids, COMMON_WORDS]))
        if self._centred is None or self.distilled != before:
            self._centred = table - table[COMMON_WORDS].mean(0)
        return self._centred

    def encode(self, texts: list[str]) -> torch.Tensor:
        enc = self.tokenizer().encode_batch(list(texts), add_special_tokens=False)
        lengths = torch.tensor([len(e.ids) for e in enc])
        flat = torch.tensor([i for e in enc for i in e.ids], dtype=torch.long)
        offsets = torch.cumsum(lengths, 0) - lengths
        emb = torch.nn.functional.embedding_bag(flat, self.centred(flat), offsets, mode="sum",
                                                per_sample_weights=self.weights[flat])
        return l2_normalise(emb)  # a text with no token stays a zero row
