"""The one Logger and Metrics every handler shares (Powertools; service name from the environment)."""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="pipewarden")
