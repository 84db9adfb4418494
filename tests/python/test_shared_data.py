"""Tests on data that does not ship with concise (no license of its own): they run
where ../shared/data (or $CONCISE_SHARED_DATA) has it and skip, saying so, elsewhere."""
import h5py
import numpy as np

CLASSES = ["airplane", "car (automobile)", "bird", "cat", "deer", "dog", "frog", "horse", "cargo ship", "truck"]


def test_recomposed_cifar10_embeddings_keep_zero_shot_accuracy(shared_data, data_dir, run, tmp_path):
    clip = shared_data / "clip-vit-b32"
    run("dictionary", "build", "--embeddings", data_dir / "lvis_concepts.npy", "--names", data_dir / "lvis_concepts.txt",
        "--image-mean", data_dir / "image_mean.npy", "-o", tmp_path / "lvis.h5")
    run("decompose", clip / "cifar10_test200_embeddings.npy", "--dictionary", tmp_path / "lvis.h5", "--l1", "0.25",
        "-o", tmp_path / "codes.h5")
    run("recompose", tmp_path / "codes.h5", "--dictionary", tmp_path / "lvis.h5", "-o", tmp_path / "dense.h5")
    names = (data_dir / "lvis_concepts.txt").read_text().splitlines()
    head = np.load(data_dir / "lvis_concepts.npy")[[names.index(c) for c in CLASSES]].astype(np.float64)
    head /= np.linalg.norm(head, axis=1, keepdims=True)
    labels = np.load(clip / "cifar10_test200_labels.npy")
    images = np.load(clip / "cifar10_test200_embeddings.npy").astype(np.float64)
    with h5py.File(tmp_path / "dense.h5") as f, h5py.File(tmp_path / "codes.h5") as c:
        recomposed = f["embeddings"][:].astype(np.float64)
        l0 = c["stats/l0"][:]
    dense_accuracy = ((images @ head.T).argmax(axis=1) == labels).mean()
    sparse_accuracy = ((recomposed @ head.T).argmax(axis=1) == labels).mean()
    assert dense_accuracy > 0.85
    assert sparse_accuracy > 0.8 and sparse_accuracy > dense_accuracy - 0.08
    assert 3 < l0.mean() < 6
