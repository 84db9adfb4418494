"""A drop-in for SpLiCE's `splice.SPLICE` model, solved by concise.

    from concise.splice import SPLICE      # instead of: from splice import SPLICE
    model = SPLICE(image_mean, dictionary, clip=clip_model, l1_penalty=0.25, device="cuda")
    recon = model.encode_image(images)

Differences from SpLiCE, on purpose:
- `l1_penalty` is lambda of ||z - C^T w||^2 + lambda * sum(w) for every solver (SpLiCE's
  "skl" solver rescales it to alpha = l1_penalty / (2 d), which is the same objective).
  Each row stops at a certified relative duality gap `tol` (default 1e-4) instead of
  sklearn's or ADMM's own tolerances; `solver` picks concise's solver ("auto", "ws",
  "fista", "admm"), not SpLiCE's "skl"/"admm".
- The default l1_penalty is 0.25 (SpLiCE's paper setting), not 0.01.
- It is a plain class, not a torch.nn.Module; it has no parameters to train.
- `return_cosine=True` makes encode_image and intervene_image also return the cosine
  between each reconstruction and its input: (result, cosine).
"""
import numpy as np

from . import _core
from ._decomposer import DEFAULTS, Decomposer


def _torch():
    import torch
    return torch


class SPLICE:
    def __init__(self, image_mean, dictionary, clip=None, solver=DEFAULTS["solver"], l1_penalty=DEFAULTS["l1"],
                 return_weights=False, return_cosine=False, decomp_text=False, text_mean=None, device="cpu",
                 tol=DEFAULTS["tol"]):
        torch = _torch()
        self.device = device
        self.clip = clip
        self.image_mean = torch.as_tensor(image_mean, dtype=torch.float32).to(device)
        self.text_mean = torch.as_tensor(text_mean, dtype=torch.float32).to(device) if text_mean is not None else None
        if isinstance(dictionary, _core.Dictionary):
            concise_dictionary = dictionary
            self.dictionary = torch.from_numpy(np.array(dictionary.atoms)).to(device)
        else:
            self.dictionary = torch.as_tensor(dictionary, dtype=torch.float32).to(device)
            concise_dictionary = _core.Dictionary.from_atoms(self.dictionary.detach().cpu().contiguous(),
                                                             image_mean=self.image_mean.cpu().contiguous())
        self.l1_penalty = l1_penalty
        self.return_weights = return_weights
        self.return_cosine = return_cosine
        self.decomp_text = decomp_text
        # concise solves on SPLICE's GPU when its CUDA backend can, else on the CPU.
        try:
            requested = _core.parse_device(str(device))
        except ValueError:  # a torch device concise has no backend for (e.g. "mps")
            requested = "cpu"
        concise_device = requested if requested != "cpu" and _core.cuda_available() else "cpu"
        self.decomposer = Decomposer(concise_dictionary, l1=l1_penalty, tol=tol, solver=solver, device=concise_device)

    def decompose(self, embedding):
        """Dense weights (n x c) of already centered, unit-norm embeddings."""
        codes = self.decomposer.decompose(embedding.detach().float(), preprocess=False)
        return codes.to_dense().to(self.device)

    def _recompose(self, weights, mean):
        F = _torch().nn.functional
        recon = F.normalize(weights.float() @ self.dictionary, dim=1)
        return F.normalize(recon + mean, dim=1)

    def recompose_image(self, weights):
        return self._recompose(weights, self.image_mean)

    def _clip(self, method, x):
        """x through the CLIP model's encode_image / encode_text (when there is one), unit rows."""
        torch = _torch()
        if self.clip is not None:
            self.clip.eval()
            with torch.no_grad():
                x = getattr(self.clip, method)(x)
        return torch.nn.functional.normalize(x.to(self.device).float(), dim=1)

    def _encode(self, image):
        image = self._clip("encode_image", image)
        return image, _torch().nn.functional.normalize(image - self.image_mean, dim=1)

    def _finish(self, weights, image):
        recon = self.recompose_image(weights)
        result = weights if self.return_weights else recon
        if self.return_cosine:
            return result, (recon * image).sum(dim=1)
        return result

    def encode_image(self, image):
        image, centered = self._encode(image)
        return self._finish(self.decompose(centered), image)

    def intervene_image(self, image, intervention_indices):
        image, centered = self._encode(image)
        weights = self.decompose(centered)
        for w in intervention_indices:
            weights[:, w] *= 0
        return self._finish(weights, image)

    def encode_text(self, text):
        F = _torch().nn.functional
        text = self._clip("encode_text", text)
        if not self.decomp_text:
            return text
        weights = self.decompose(F.normalize(text - self.text_mean, dim=1))
        if self.return_weights:
            return weights
        return self._recompose(weights, self.text_mean)

    def forward(self, image, text):
        return self.encode_image(image), self.encode_text(text)

    __call__ = forward
