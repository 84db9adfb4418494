"""CLIP's inputs, exactly as CLIP makes them, without torch, PIL, ftfy or regex.

    from concise import clip
    tok = clip.Tokenizer()                    # CLIP's merges, shipped with concise
    ids = tok.tokenize(["a photo of a cat"])  # int64 [1, 77]: 49406 320 1125 539 320 2368 49407 0 ...
    x = clip.preprocess(["cat.jpg"])          # float32 [1, 3, 224, 224], equal to PIL + torchvision's

The tokenizer is CLIP's byte-level BPE with its text cleaning (ftfy's fixes that do
not guess encodings, HTML unescaping, whitespace, lowercase) and Unicode classes from
ICU. Preprocessing decodes JPEG/PNG, resizes the short side with PIL's bicubic
filter reproduced to the bit, center-crops and normalizes.
"""
import os
import pathlib

from . import _core

SHIPPED_MERGES = pathlib.Path(__file__).resolve().parent / "data" / "bpe_simple_vocab_16e6.txt.gz"

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def find_merges(merges=None, model_dir=None):
    """The merges file Tokenizer(merges, model_dir) reads: merges itself, else
    $CONCISE_CLIP_BPE, else merges.txt or bpe_simple_vocab_16e6.txt.gz in model_dir,
    else the merges shipped with concise."""
    if merges is not None:
        if not os.path.isfile(merges):
            raise ValueError(f"merges={os.fspath(merges)!r} is not a file; pass CLIP's bpe_simple_vocab_16e6.txt.gz "
                             "or a Hugging Face merges.txt, or leave merges=None for the merges concise ships")
        return os.fspath(merges)
    tried = []
    env = os.environ.get("CONCISE_CLIP_BPE")
    if env:
        if os.path.isfile(env):
            return env
        tried.append(f"$CONCISE_CLIP_BPE ({env})")
    if model_dir is not None:
        for name in ("merges.txt", "bpe_simple_vocab_16e6.txt.gz"):
            candidate = os.path.join(os.fspath(model_dir), name)
            if os.path.isfile(candidate):
                return candidate
            tried.append(candidate)
    if SHIPPED_MERGES.is_file():
        return str(SHIPPED_MERGES)
    tried.append(str(SHIPPED_MERGES))
    raise ValueError("no BPE merges for the CLIP tokenizer: pass Tokenizer(merges=PATH) with CLIP's "
                     "bpe_simple_vocab_16e6.txt.gz or a Hugging Face merges.txt, or set CONCISE_CLIP_BPE; tried "
                     + ", ".join(tried))


class Tokenizer:
    """CLIP's tokenizer. merges: bpe_simple_vocab_16e6.txt.gz or a Hugging Face
    merges.txt; None looks at $CONCISE_CLIP_BPE, then model_dir, then takes the
    merges shipped with concise (find_merges)."""

    def __init__(self, merges=None, model_dir=None):
        self._tokenizer = _core.Tokenizer(find_merges(merges, model_dir))

    def tokenize(self, texts, context=77):
        """int64 [n, context] ids (start, text, end, 0-padded; long texts keep the end token)."""
        if isinstance(texts, str):
            texts = [texts]
        return self._tokenizer.tokenize(list(texts), context)

    def encode(self, text):
        """The text's token ids without start and end tokens."""
        return self._tokenizer.encode(text)

    @property
    def vocab_size(self):
        return self._tokenizer.vocab_size


def preprocess(paths, size=224, mean=MEAN, std=STD):
    """float32 [n, 3, size, size] for JPEG/PNG files, CLIP's preprocessing."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return _core.preprocess_images([os.fspath(p) for p in paths], size, list(mean), list(std))
