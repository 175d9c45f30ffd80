"""Stage `train_joint`: fit the joint four-voice HMM (neshmm.pipeline.train_joint)."""

from neshmm.pipeline import train_joint
from stages._common import PATHS, run

if __name__ == "__main__":
    run("train_joint", lambda cfg: train_joint.run(cfg, PATHS.prepared, PATHS.joint_model, PATHS.joint_fit_log))
