"""concise: sparse nonnegative concept codes for CLIP embeddings (SpLiCE), fast.

    import concise
    dictionary = concise.Dictionary.load("dict.h5")
    decomposer = concise.Decomposer(dictionary, l1=0.25)
    codes, stats = decomposer.decompose(embeddings, return_stats=True)   # scipy CSR
    decomposer.explain(codes, top=5)       # [[("cat", 0.09), ...], ...]
    decomposer.recompose(codes, zero=["cat"])

`concise.DictionaryLearner(n_atoms, init=dictionary).fit(embeddings)` learns atoms for
what the vocabulary misses.

    index = concise.SparseIndex.build("codes.h5")   # exact top-k concept search
    index.search(concepts="cat:1,kitten:0.5", k=5)

`concise.evaluate` measures what codes cost in zero-shot classification and retrieval;
`concise.summarize` reports a codes file's concepts with plots. `concise.splice.SPLICE`
is a drop-in for SpLiCE's model class; `concise.clip` has CLIP's exact tokenizer and
image preprocessing.
"""
from . import clip
from ._core import Dictionary, backends, cuda_available
from ._decomposer import Decomposer, RowStats
from ._files import decompose_file, recompose_file
from ._learn import DictionaryLearner
from ._index import Hit, SparseIndex

__version__ = "0.1.0"
__all__ = ["clip", "Dictionary", "Decomposer", "RowStats", "decompose_file", "recompose_file", "cuda_available",
           "backends", "DictionaryLearner", "SparseIndex", "Hit"]
