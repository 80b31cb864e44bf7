"""tools/train.py --check-images (an alias of --check-data): unreadable
images named before training."""
import io
import os.path as osp
import subprocess
import sys

import numpy as np
from mmdet.utils import register_all_modules
from mmengine.config import Config
from PIL import Image

from mmdet_ohem.utils import check_images
from helpers import CONFIG, ROOT, tiny_run_options


def truncated_jpeg() -> bytes:
    """A JPEG cut in the middle, as an interrupted download leaves it."""
    img = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype('uint8')
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, 'JPEG', quality=90)
    data = buf.getvalue()
    return data[:len(data) * 2 // 3]


def test_a_truncated_jpeg_is_named_with_the_fix(tmp_path):
    data = tmp_path / 'data'
    subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'data', 'generate_hard_negatives.py'), '--out',
        str(data), '--n-train', '4', '--n-val', '2', '--img-size', '64'
    ],
                   check=True,
                   capture_output=True)
    cfg = Config.fromfile(CONFIG)
    options = tiny_run_options(data)
    parsed = dict(o.split('=', 1) for o in options)
    for key in ('train_dataloader.dataset.data_root',
                'val_dataloader.dataset.data_root'):
        cfg.merge_from_dict({key: parsed[key]})
    register_all_modules()
    assert check_images(cfg) == []

    broken = sorted((data / 'train').iterdir())[1]
    broken.write_bytes(truncated_jpeg())
    bad = check_images(cfg)
    assert [b.path for b in bad] == [str(broken)]
    assert bad[0].where == 'train_dataloader.dataset'
    assert 're-encode' in bad[0].fix

    out = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--check-images',
        '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', *options
    ],
                         cwd=tmp_path,
                         capture_output=True,
                         text=True,
                         timeout=300)
    assert out.returncode != 0
    # The alias reads the annotations too: the generated ones are clean.
    assert ('--check-data: annotations read in' in out.stderr
            and ': 0 error(s) (training would change or stop)' in out.stderr)
    assert f'cannot load {broken}' in out.stderr
    assert '1 image(s) would stop training' in out.stderr
    assert not (tmp_path / 'work' / 'iter_6.pth').exists()
