"""MRC reading: clear errors for missing, corrupt, NaN and blank micrographs; atomic writes."""

import mrcfile
import numpy as np
import pytest

from cryopick.errors import InputError
from cryopick.io.mrc import read_image_stack, read_micrograph, read_mrc_header_pixel_size, \
    write_mrc


def test_round_trip_keeps_data_and_pixel_size(tmp_path):
    image = np.random.default_rng(0).normal(size=(40, 50)).astype(np.float32)
    write_mrc(tmp_path / "m.mrc", image, 1.5)
    np.testing.assert_array_equal(read_micrograph(tmp_path / "m.mrc"), image)
    stack = np.stack([image, -image])
    write_mrc(tmp_path / "s.mrcs", stack, 3.0, stack=True)
    assert read_image_stack(tmp_path / "s.mrcs").shape == (2, 40, 50)
    assert not list(tmp_path.glob(".*tmp*"))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="m.mrc: file not found"):
        read_micrograph(tmp_path / "m.mrc")


def test_truncated_file_is_named(tmp_path):
    path = tmp_path / "t.mrc"
    write_mrc(path, np.ones((64, 64), np.float32) * np.arange(64), 1.0)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(InputError, match=f"{path}: not a valid MRC"):
        read_micrograph(path)


def test_garbage_header_is_named(tmp_path):
    path = tmp_path / "g.mrc"
    path.write_bytes(b"\x07" * 4096)
    with pytest.raises(InputError, match=str(path)):
        read_micrograph(path)


def test_nan_pixels_are_refused(tmp_path):
    image = np.ones((16, 16), np.float32) * np.arange(16)
    image[3, 4] = np.nan
    write_mrc(tmp_path / "n.mrc", image, 1.0)
    with pytest.raises(InputError, match="NaN"):
        read_micrograph(tmp_path / "n.mrc")


def test_blank_micrograph_is_refused(tmp_path):
    write_mrc(tmp_path / "z.mrc", np.zeros((16, 16), np.float32), 1.0)
    with pytest.raises(InputError, match="zero variance"):
        read_micrograph(tmp_path / "z.mrc")


def test_rewriting_the_same_data_gives_the_same_bytes(tmp_path):
    image = np.random.default_rng(1).normal(size=(20, 30)).astype(np.float32)
    write_mrc(tmp_path / "a.mrc", image, 1.0)
    write_mrc(tmp_path / "b.mrc", image, 1.0)
    assert (tmp_path / "a.mrc").read_bytes() == (tmp_path / "b.mrc").read_bytes()


def test_unsigned_16_bit_micrograph_with_fei_extended_header_reads_as_float32(tmp_path):
    # as the FEI/EPU micrographs shipped in mrcfile's source distribution: mode 6, FEI1 header
    path = tmp_path / "fei.mrc"
    data = np.random.default_rng(0).integers(2000, 9000, (48, 40)).astype(np.uint16)
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.set_extended_header(np.zeros(1024, dtype=np.uint8))
        mrc.header.exttyp = b"FEI1"
        mrc.voxel_size = 0.85
    image = read_micrograph(path)
    assert image.dtype == np.float32 and image.shape == (48, 40)
    np.testing.assert_array_equal(image, data.astype(np.float32))
    assert read_mrc_header_pixel_size(path) == pytest.approx(0.85)
