"""CLIP's inputs, exactly as CLIP makes them, without torch, PIL, ftfy or regex.

    from concise import clip
    tok = clip.Tokenizer()                    # merges from $CONCISE_CLIP_BPE, or pass a path
    ids = tok.tokenize(["a photo of a cat"])  # int64 [1, 77]: 49406 320 1125 539 320 2368 49407 0 ...
    x = clip.preprocess(["cat.jpg"])          # float32 [1, 3, 224, 224], equal to PIL + torchvision's

The tokenizer is CLIP's byte-level BPE with its text cleaning (ftfy's fixes that do
not guess encodings, HTML unescaping, whitespace, lowercase) and Unicode classes from
ICU. Preprocessing decodes JPEG/PNG, resizes the short side with PIL's bicubic
filter reproduced to the bit, center-crops and normalizes.
"""
import os

from . import _core

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


class Tokenizer:
    """CLIP's tokenizer. merges: bpe_simple_vocab_16e6.txt.gz or a Hugging Face
    merges.txt; None looks at $CONCISE_CLIP_BPE, then model_dir."""

    def __init__(self, merges=None, model_dir=None):
        path = _core.find_merges_file(os.fspath(merges) if merges else "", os.fspath(model_dir) if model_dir else "")
        self._tokenizer = _core.Tokenizer(path)

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
