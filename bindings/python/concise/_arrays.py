"""numpy / torch inputs to the engine's contiguous float32 host rows, and results back."""
import sys
import warnings

import numpy as np
import scipy.sparse


def _torch():
    # A tensor can only exist once its user has imported torch; never import it here.
    return sys.modules.get("torch")


def is_torch(x):
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


def is_cuda_tensor(x):
    return is_torch(x) and x.is_cuda


def cuda_rows(x, what="embeddings"):
    """A CUDA tensor the GPU decomposer reads in place: itself when it is 2-D,
    C-contiguous float32; otherwise converted once, on its GPU."""
    t = x.detach()
    if t.dim() != 2:
        raise ValueError(f"{what} have shape {tuple(t.shape)}, expected a 2-D tensor (rows x dim)")
    if not t.is_floating_point():
        raise TypeError(f"{what} have dtype {t.dtype}, expected floating-point embeddings")
    return t.to(dtype=_torch().float32).contiguous()


def host_rows(x, what="embeddings"):
    """Rows the solver can read in place: C-contiguous float32 on the CPU, 2-D.

    A contiguous float32 numpy array or CPU tensor comes back as itself (no copy);
    anything else is converted once, here.
    """
    if is_torch(x):
        t = x.detach()
        if t.dim() != 2:
            raise ValueError(f"{what} have shape {tuple(t.shape)}, expected a 2-D tensor (rows x dim)")
        if not t.is_floating_point():
            raise TypeError(f"{what} have dtype {t.dtype}, expected floating-point embeddings")
        return t.to(device="cpu", dtype=_torch().float32).contiguous()
    if isinstance(x, np.ndarray) or isinstance(x, (list, tuple)):
        a = np.asarray(x)
    else:
        raise TypeError(f"{what} are a {type(x).__name__}, expected a numpy array or a torch tensor")
    if a.ndim != 2:
        raise ValueError(f"{what} have shape {a.shape}, expected a 2-D array (rows x dim)")
    if a.dtype.kind != "f":
        raise TypeError(f"{what} have dtype {a.dtype}, expected floating-point embeddings")
    return np.ascontiguousarray(a, dtype=np.float32)


def csr_result(like, indptr, indices, data, shape):
    """The codes as scipy CSR for numpy input, as a torch sparse CSR tensor for torch input."""
    if is_torch(like):
        torch = _torch()
        with warnings.catch_warnings():  # older torch calls its sparse CSR support "beta"
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(torch.from_numpy(indptr), torch.from_numpy(indices.astype(np.int64)),
                                           torch.from_numpy(data), size=shape, device=like.device)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=shape)


def csr_parts(codes, concepts):
    """(indptr int64, indices int32, data float32, rows) of codes given as scipy sparse,
    a torch sparse or dense tensor, or a dense array (rows x concepts)."""
    if is_torch(codes):
        t = codes.detach().cpu()
        if t.layout != _torch().sparse_csr:
            t = t.to_dense().to_sparse_csr() if t.layout != _torch().strided else t.to_sparse_csr()
        indptr, indices, data = (t.crow_indices().numpy(), t.col_indices().numpy(), t.values().numpy())
        shape = tuple(t.shape)
    elif scipy.sparse.issparse(codes):
        m = scipy.sparse.csr_matrix(codes)
        m.sort_indices()
        indptr, indices, data, shape = m.indptr, m.indices, m.data, m.shape
    else:
        a = np.asarray(codes)
        if a.ndim != 2:
            raise ValueError(f"codes have shape {a.shape}, expected a 2-D matrix (rows x concepts)")
        m = scipy.sparse.csr_matrix(a)
        indptr, indices, data, shape = m.indptr, m.indices, m.data, m.shape
    if len(shape) != 2 or shape[1] != concepts:
        raise ValueError(f"codes have shape {shape}, expected (rows, {concepts}) (the dictionary's concepts)")
    return (np.ascontiguousarray(indptr, dtype=np.int64), np.ascontiguousarray(indices, dtype=np.int32),
            np.ascontiguousarray(data, dtype=np.float32), shape[0])
