"""The local stack: gitconnect's template.yaml run on one machine, with moto as AWS (``python -m infra.local``).

What it does, read from template.yaml (nothing is declared twice):
- creates the tables, queues (with their DLQs), KMS key, event bus and secrets in moto (``resources``);
- resolves the functions' environment and imports their handlers in-process (``lambdas``);
- serves the HttpApi routes as API Gateway would, with payload 2.0 events (``apigw``, ``server``);
- runs each SQS event source mapping as a poller with partial batch failures (``sqs_poller``);
- fires the schedules (``schedules``), since moto has no Lambda execution and its EventBridge does not fire rules;
- taps the event bus into an SQS queue so published events can be read (``resources.create_bus_tap``).

Where it deliberately differs from AWS:
- failed SQS messages come back after GITCONNECT_LOCAL_RETRY_SECONDS (1 s) instead of the queue's VisibilityTimeout,
  so retries and the move to the DLQ after maxReceiveCount take seconds;
- schedules fire at their rate (or GITCONNECT_LOCAL_SCHEDULE_SECONDS); cron expressions only at that override;
- all functions share one process and one os.environ (per-function variables that conflict are reported);
  each function handles one invocation at a time, and timeouts are not enforced (the context reports them);
- the body of a request is passed as text when it is valid UTF-8, base64 otherwise (API Gateway decides by
  content type).
"""
