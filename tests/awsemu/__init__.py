"""awsemu: moto's standalone server extended for karpenter-rs tests (see docs/testing/aws-emulator.md).

Layout:
  __main__.py      CLI: `python -m awsemu serve --port 0 --port-file F`
  server.py        WSGI wrapper around moto's app, signal handling, readiness via the port file
  patches/         small named patches of moto: fleet (CreateFleet instant), spot_prices
                   (DescribeSpotPriceHistory), seeds (EKS AMIs + SSM parameters), ssm_resolve,
                   dry_run (EC2 DryRun), sqs_receive (ReceiveMessage with a backlog), iam_enforce, ...
  control.py       our HTTP control endpoint under /_awsemu/ (faults, prices, health)
  pricing_api.py   the Pricing API (GetProducts, DescribeServices, GetAttributeValues)
  prices.py        pure: the deterministic price formula
  allocation.py    pure: CreateFleet pool ordering per allocation strategy
  faults.py        pure-ish: fault specifications and the process-wide fault store
  catalog.py       moto's instance-type and offering data, indexed
  eks_amis.py      pure: the EKS AMIs and SSM parameters we seed
  client.py        test-side helper: start/stop the process, reset, inject faults
  pytest_fixtures.py  pytest fixtures built on client.py
Importing this package does not import moto; only the server side does.
"""
