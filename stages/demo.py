"""Stage `demo`: generate the bundled demo corpus (neshmm.pipeline.demo)."""

from neshmm.pipeline import demo
from stages._common import run

if __name__ == "__main__":
    run("demo", demo.run)
