"""SageMaker: the job request (checked by botocore's own service model), packaging, the
container-side run, following a job, and signing its output here."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from cloud import sagemaker as smk
from cloud.artifact.signing import generate_keypair
from cloud.training.options import build_parser
from edge.model.holder import load_model
from tests.s3server import S3Bucket
from tests.test_train_cli import write_json_groups

ROOT = Path(__file__).resolve().parents[1]
JOB = "firedetect-test-1"
T0 = dt.datetime(2026, 11, 28, 22, 0, tzinfo=dt.UTC)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region: no real AWS is ever called."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


def args_for(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def request() -> dict[str, Any]:
    args = args_for("--data", "s3://bucket/data/", "--param", "rf.n_estimators=50",
                    "--param", "gb.max_depth=3", "--no-holdout-families")
    hp = smk.hyperparameters(smk.script_args(args), "s3://b/p/source/sourcedir.tar.gz",
                             "eu-west-1")
    return smk.training_job_request(job_name=JOB, role_arn="arn:aws:iam::123456789012:role/sm",
                                    image=smk.image_uri("eu-west-1"), hyperparameters=hp,
                                    train_s3="s3://bucket/data/", output_s3="s3://b/p/output")


class TestRequest:
    def test_valid_for_the_service_model(self, aws_env: None) -> None:
        """botocore's Stubber accepts the CreateTrainingJob request as the API defines it."""
        sm = boto3.client("sagemaker")
        req = request()
        with Stubber(sm) as stub:
            stub.add_response("create_training_job",
                              {"TrainingJobArn": f"arn:aws:sagemaker:eu-west-1:1:job/{JOB}"},
                              expected_params=req)
            sm.create_training_job(**req)
            stub.assert_no_pending_responses()

    def test_container_conventions(self) -> None:
        """Code by sagemaker_submit_directory/_program, data as the train channel, every
        hyperparameter a JSON string, default instance ml.m5.large."""
        req = request()
        hp = req["HyperParameters"]
        assert json.loads(hp["sagemaker_program"]) == "cloud/train.py"
        assert json.loads(hp["sagemaker_submit_directory"]).endswith("sourcedir.tar.gz")
        assert json.loads(hp["unsigned"]) is True
        assert json.loads(hp["feature-set"]) == "fd-v3"  # recordings' default set, resolved
        assert json.loads(hp["labels"]) == "observable"  # the job labels as a local run
        assert json.loads(hp["holdout-families"]) is False
        assert json.loads(hp["param"]) == "rf.n_estimators=50;gb.max_depth=3"
        assert all(isinstance(v, str) for v in hp.values())
        channel = req["InputDataConfig"][0]
        assert channel["ChannelName"] == "train"
        assert channel["DataSource"]["S3DataSource"]["S3Uri"] == "s3://bucket/data/"
        assert req["ResourceConfig"]["InstanceType"] == "ml.m5.large"
        assert req["AlgorithmSpecification"]["TrainingImage"] == (
            "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3")

    def test_unknown_region(self) -> None:
        """A region without a known image is refused, naming the known ones."""
        with pytest.raises(ValueError, match="known: eu-central-1"):
            smk.image_uri("mars-north-1")

    def test_script_reads_hyperparameters(self) -> None:
        """What the container passes (--name value, decoded JSON) parses as train.py options."""
        hp = request()["HyperParameters"]
        argv: list[str] = []
        for k, v in hp.items():
            if not k.startswith("sagemaker_"):
                argv += [f"--{k}", str(json.loads(v))]
        from cloud.training.options import parse

        args = parse(argv)
        assert args.unsigned is True and args.holdout_families is False
        assert args.param == ["rf.n_estimators=50", "gb.max_depth=3"]


class TestPackage:
    def test_sourcedir(self, tmp_path: Path) -> None:
        """sourcedir.tar.gz holds the entry point, both packages and pinned requirements."""
        src = smk.package_sourcedir(ROOT, tmp_path / "s.tar.gz")
        with tarfile.open(src) as tar:
            names = tar.getnames()
            req = tar.extractfile("requirements.txt")
            assert req is not None
            reqs = req.read().decode()
        assert "cloud/train.py" in names and "edge/features.py" in names
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        import sklearn

        assert f"scikit-learn=={sklearn.__version__}" in reqs.splitlines()


def _describe(status: str, transitions: list[str], failure: str | None = None
              ) -> dict[str, Any]:
    d: dict[str, Any] = {
        "TrainingJobName": JOB,
        "TrainingJobArn": f"arn:aws:sagemaker:eu-west-1:1:training-job/{JOB}",
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://b/p/output/{JOB}/output/model.tar.gz"},
        "TrainingJobStatus": status,
        "SecondaryStatus": transitions[-1],
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": T0,
        "SecondaryStatusTransitions": [{"Status": s, "StartTime": T0,
                                        "StatusMessage": f"{s} message"} for s in transitions],
    }
    if failure:
        d["FailureReason"] = failure
    return d


def _events(*messages: str, token: str) -> dict[str, Any]:
    return {"events": [{"timestamp": 1, "message": m} for m in messages],
            "nextForwardToken": token, "nextBackwardToken": "b"}


class TestFollow:
    def test_until_completed(self, aws_env: None) -> None:
        """Transitions and log lines are printed once each, in order, until the job ends."""
        sm, logs = boto3.client("sagemaker"), boto3.client("logs")
        stream = f"{JOB}/algo-1-1700000000"
        group = {"logGroupName": smk.LOG_GROUP}
        with Stubber(sm) as s, Stubber(logs) as lg:
            s.add_response("describe_training_job", _describe("InProgress", ["Starting"]),
                           {"TrainingJobName": JOB})
            lg.add_client_error("describe_log_streams", "ResourceNotFoundException",
                                expected_params=group | {"logStreamNamePrefix": f"{JOB}/"})
            s.add_response("describe_training_job",
                           _describe("InProgress", ["Starting", "Downloading", "Training"]),
                           {"TrainingJobName": JOB})
            lg.add_response("describe_log_streams", {"logStreams": [{"logStreamName": stream}]})
            lg.add_response("get_log_events", _events("loading data", "fit rf", token="f/2"),
                            group | {"logStreamName": stream, "startFromHead": True})
            lg.add_response("get_log_events", _events(token="f/2"),
                            group | {"logStreamName": stream, "startFromHead": True,
                                     "nextToken": "f/2"})
            s.add_response("describe_training_job", _describe(
                "Completed", ["Starting", "Downloading", "Training", "Uploading", "Completed"]),
                {"TrainingJobName": JOB})
            lg.add_response("describe_log_streams", {"logStreams": [{"logStreamName": stream}]})
            lg.add_response("get_log_events", _events("artifact written", token="f/3"),
                            group | {"logStreamName": stream, "startFromHead": True,
                                     "nextToken": "f/2"})
            lg.add_response("get_log_events", _events(token="f/3"))
            out = io.StringIO()
            sleeps: list[float] = []
            desc = smk.follow(sm, logs, JOB, poll_s=7, sleep=sleeps.append, out=out)
            s.assert_no_pending_responses()
            lg.assert_no_pending_responses()
        lines = out.getvalue().splitlines()
        assert desc["TrainingJobStatus"] == "Completed" and sleeps == [7, 7]
        assert [ln.split(": ", 1)[1].split(" —")[0] for ln in lines if ln.startswith(JOB)] == [
            "Starting", "Downloading", "Training", "Uploading", "Completed", "Completed"]
        logged = [ln for ln in lines if ln.startswith("[")]
        assert logged == ["[algo-1-1700000000] loading data", "[algo-1-1700000000] fit rf",
                          "[algo-1-1700000000] artifact written"]

    def test_failure_reason(self, aws_env: None) -> None:
        """A failed job ends the loop with its failure reason printed."""
        sm, logs = boto3.client("sagemaker"), boto3.client("logs")
        with Stubber(sm) as s, Stubber(logs) as lg:
            s.add_response("describe_training_job",
                           _describe("Failed", ["Starting", "Failed"], "AlgorithmError: boom"))
            lg.add_response("describe_log_streams", {"logStreams": []})
            out = io.StringIO()
            desc = smk.follow(sm, logs, JOB, sleep=lambda s: None, out=out)
        assert desc["TrainingJobStatus"] == "Failed"
        assert out.getvalue().splitlines()[-1] == f"{JOB}: Failed: AlgorithmError: boom"


class TestLaunchArguments:
    @pytest.mark.parametrize("argv, message", [
        (["--data", "s3://b/d/"], "--role ARN"),
        (["--role", "arn:r", "--data", "s3://b/d/"], "--sm-s3"),
        (["--role", "arn:r", "--sm-s3", "s3://b/p/", "--data", "/local/files"],
         "one s3:// data prefix"),
        (["--role", "arn:r", "--sm-s3", "s3://b/p/"], "--data s3://... or --simulate"),
    ])
    def test_refused(self, argv: list[str], message: str,
                     capsys: pytest.CaptureFixture[str]) -> None:
        """Missing role, bucket or remote data: exit 2 with what to pass, before any call."""
        from cloud.train import main

        assert main(["--sagemaker", "--unsigned", *argv]) == 2
        assert message in capsys.readouterr().err


class TestContainer:
    def test_run_and_sign_here(self, tmp_path: Path, s3_bucket: S3Bucket) -> None:
        """The packaged code runs in an /opt/ml-like layout from SM_* variables and writes an
        unsigned artifact; signed here after download, it verifies with the public key."""
        code = tmp_path / "opt/ml/code"
        code.mkdir(parents=True)
        with tarfile.open(smk.package_sourcedir(ROOT, tmp_path / "src.tar.gz")) as tar:
            tar.extractall(code, filter="data")
        train = write_json_groups(tmp_path / "opt/ml/input/data/train")
        model_dir, output_dir = tmp_path / "opt/ml/model", tmp_path / "opt/ml/output/data"
        model_dir.mkdir(parents=True)
        env = dict(os.environ, SM_CHANNEL_TRAIN=str(train), SM_MODEL_DIR=str(model_dir),
                   SM_OUTPUT_DATA_DIR=str(output_dir))
        env.pop("FIREDETECT_SIGNING_KEY", None)
        proc = subprocess.run(
            [sys.executable, "cloud/train.py", "--unsigned", "true", "--holdout-families",
             "false", "--target-far", "0.01",
             "--param", "rf.n_estimators=8;gb.max_iter=8;gb.max_depth=2"],
            cwd=code, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (output_dir / "metrics.json").is_file() and (output_dir / "report.html").is_file()
        versions = [p for p in model_dir.iterdir() if p.is_dir()]
        assert len(versions) == 1 and not (versions[0] / "manifest.json.sig").exists()

        # SageMaker tars SM_MODEL_DIR into model.tar.gz; fetch it and sign it here.
        model_tar = tmp_path / "model.tar.gz"
        with tarfile.open(model_tar, "w:gz") as tar:
            for p in model_dir.iterdir():
                tar.add(p, arcname=p.name)
        s3 = boto3.client("s3", endpoint_url=s3_bucket.endpoint_url)
        s3.upload_file(str(model_tar), s3_bucket.name, f"out/{JOB}/output/model.tar.gz")
        generate_keypair(tmp_path / "k.pem", tmp_path / "k.pub")
        from cloud.artifact.signing import load_private_key

        out = tmp_path / "models"
        url = f"s3://{s3_bucket.name}/out/{JOB}/output/model.tar.gz"
        folder = smk.fetch_and_sign(s3, url, out, load_private_key(tmp_path / "k.pem"))
        public = load_pem_public_key((tmp_path / "k.pub").read_bytes())
        model = load_model(out / f"{folder.name}.tar.gz", public_key=public)  # type: ignore[arg-type]
        assert model.version == versions[0].name
        with pytest.raises(FileExistsError):
            smk.fetch_and_sign(s3, url, out, load_private_key(tmp_path / "k.pem"))
