"""Videos and notebook animations, checked by reading what was written back."""

import base64
import re

import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np
import pytest

from qarcade.envs.gridworld import play_actions
from qarcade.errors import UserError
from qarcade.media import gif_bytes, notebook_animation, notebook_gif, write_video


def distinct_frames(count):
    """(count, 84, 84, 3) frames, each different from the one before: a moving white bar."""
    frames = np.zeros((count, 84, 84, 3), np.uint8)
    for t in range(count):
        frames[t, :, 4 * t : 4 * t + 4] = 255
    return frames


def test_mp4_has_every_frame_at_the_asked_rate_and_size(tmp_path):
    frames = distinct_frames(9)
    path = write_video(frames, tmp_path / "clip.mp4", fps=4, scale=4)
    reader = imageio.get_reader(path)
    meta = reader.get_meta_data()
    read = np.stack([frame for frame in reader.iter_data()])
    reader.close()
    assert read.shape == (9, 336, 336, 3)
    assert meta["fps"] == 4.0 and meta["codec"] == "h264"
    # lossy, but the bar is where it should be: bright inside, dark elsewhere
    for t in (0, 5, 8):
        bar = read[t, :, 16 * t + 2 : 16 * t + 14]
        assert bar.mean() > 200
        assert np.delete(read[t], np.s_[16 * t - 4 : 16 * t + 20], axis=1).mean() < 20


def test_gif_is_lossless_and_holds_each_frame(tmp_path):
    frames = distinct_frames(6)
    path = write_video(frames, tmp_path / "clip.gif", fps=5, scale=2)
    read = iio.imread(path, index=None)
    assert read.shape == (6, 168, 168, 3)
    np.testing.assert_array_equal(read, frames.repeat(2, axis=1).repeat(2, axis=2))
    assert iio.immeta(path, index=0)["duration"] == 200  # ms: 1/5 s per frame


def test_identical_consecutive_frames_merge_in_a_gif_but_keep_their_time():
    frames = distinct_frames(3)[[0, 1, 1, 1, 2]]
    data = gif_bytes(frames, fps=4, scale=1)
    read = iio.imread(data, extension=".gif", index=None)
    durations = [iio.immeta(data, extension=".gif", index=i)["duration"] for i in range(len(read))]
    assert len(read) == 3 and sum(durations) == 5 * 250


@pytest.mark.parametrize("name", ["clip.avi", "clip", "clip.png"])
def test_other_extensions_are_a_clear_error(tmp_path, name):
    with pytest.raises(UserError, match=r"\.mp4 or \.gif"):
        write_video(distinct_frames(2), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_bad_frames_are_a_clear_error(tmp_path):
    with pytest.raises(UserError, match=r"\(T, H, W, 3\)"):
        write_video(np.zeros((0, 84, 84, 3), np.uint8), tmp_path / "x.gif")
    with pytest.raises(UserError, match="does not exist"):
        write_video(distinct_frames(2), tmp_path / "missing" / "x.gif")


def test_notebook_animation_embeds_the_gif():
    episode = play_actions([3, 3, 1, 0], seed=1)
    html = notebook_animation(episode.frames, fps=4, scale=1)._repr_html_()
    data = re.search(r'src="data:image/gif;base64,([^"]+)"', html).group(1)
    read = iio.imread(base64.b64decode(data), extension=".gif", index=None)
    assert read.shape[1:] == (84, 84, 3)
    np.testing.assert_array_equal(read[0], episode.frames[0])


def test_a_gif_file_is_shown_inside_the_cells_html(tmp_path):
    path = write_video(distinct_frames(3), tmp_path / "agent.gif", fps=4, scale=1)
    html = notebook_gif(path)._repr_html_()
    data = re.search(r'src="data:image/gif;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(data) == path.read_bytes()


@pytest.mark.parametrize("fps, scale", [(0, 4), (-2, 4), (float("nan"), 4), (4, 0), (4, 1.5)])
def test_bad_rate_or_scale_is_a_clear_error(tmp_path, fps, scale):
    with pytest.raises(UserError, match="fps > 0"):
        write_video(distinct_frames(2), tmp_path / "x.gif", fps=fps, scale=scale)
