//! What `Ref` and `Fn::GetAtt` give for the resource types rules point at, offline: a
//! resource's name is its name property, or its logical id when the template leaves the
//! name to CloudFormation (which would generate `stack-LogicalId-RANDOM`, unknowable here);
//! ARNs and URLs are built from that name and the region, account and partition.
//!
//! One row per resource type; a pattern uses `{name}`, `{region}`, `{account}`,
//! `{partition}` and `{url_suffix}`. An attribute that cannot be known offline (an
//! OpenSearch domain's generated endpoint) is simply not listed: asking for it is an error.

/// How one resource type answers `Ref` and `Fn::GetAtt`.
pub struct ResourceType {
    /// `Type` in the template, e.g. `AWS::SQS::Queue`.
    pub type_name: &'static str,
    /// The property naming the resource, e.g. `QueueName`.
    pub name_property: &'static str,
    /// What `Ref` returns; `None` when it is not knowable offline.
    pub reference: Option<&'static str>,
    /// `Fn::GetAtt` attributes.
    pub attributes: &'static [(&'static str, &'static str)],
}

const fn row(
    type_name: &'static str,
    name_property: &'static str,
    reference: Option<&'static str>,
    attributes: &'static [(&'static str, &'static str)],
) -> ResourceType {
    ResourceType {
        type_name,
        name_property,
        reference,
        attributes,
    }
}

const SQS_URL: &str = "https://sqs.{region}.{url_suffix}/{account}/{name}";
const SQS_ARN: &str = "arn:{partition}:sqs:{region}:{account}:{name}";
const SNS_ARN: &str = "arn:{partition}:sns:{region}:{account}:{name}";
const LAMBDA_ARN: &str = "arn:{partition}:lambda:{region}:{account}:function:{name}";
const DDB_ARN: &str = "arn:{partition}:dynamodb:{region}:{account}:table/{name}";
const SFN_ARN: &str = "arn:{partition}:states:{region}:{account}:stateMachine:{name}";

pub const RESOURCE_TYPES: &[ResourceType] = &[
    row(
        "AWS::SQS::Queue",
        "QueueName",
        Some(SQS_URL),
        &[
            ("Arn", SQS_ARN),
            ("QueueName", "{name}"),
            ("QueueUrl", SQS_URL),
        ],
    ),
    row(
        "AWS::SNS::Topic",
        "TopicName",
        Some(SNS_ARN),
        &[("TopicArn", SNS_ARN), ("TopicName", "{name}")],
    ),
    row(
        "AWS::Lambda::Function",
        "FunctionName",
        Some("{name}"),
        &[("Arn", LAMBDA_ARN)],
    ),
    row(
        "AWS::Serverless::Function",
        "FunctionName",
        Some("{name}"),
        &[("Arn", LAMBDA_ARN)],
    ),
    row(
        "AWS::Kinesis::Stream",
        "Name",
        Some("{name}"),
        &[(
            "Arn",
            "arn:{partition}:kinesis:{region}:{account}:stream/{name}",
        )],
    ),
    row(
        "AWS::KinesisFirehose::DeliveryStream",
        "DeliveryStreamName",
        Some("{name}"),
        &[(
            "Arn",
            "arn:{partition}:firehose:{region}:{account}:deliverystream/{name}",
        )],
    ),
    row(
        "AWS::S3::Bucket",
        "BucketName",
        Some("{name}"),
        &[
            ("Arn", "arn:{partition}:s3:::{name}"),
            ("DomainName", "{name}.s3.{url_suffix}"),
            ("RegionalDomainName", "{name}.s3.{region}.{url_suffix}"),
        ],
    ),
    row(
        "AWS::DynamoDB::Table",
        "TableName",
        Some("{name}"),
        &[("Arn", DDB_ARN)],
    ),
    row(
        "AWS::Serverless::SimpleTable",
        "TableName",
        Some("{name}"),
        &[("Arn", DDB_ARN)],
    ),
    row(
        "AWS::IAM::Role",
        "RoleName",
        Some("{name}"),
        &[("Arn", "arn:{partition}:iam::{account}:role/{name}")],
    ),
    row(
        "AWS::Logs::LogGroup",
        "LogGroupName",
        Some("{name}"),
        &[(
            "Arn",
            "arn:{partition}:logs:{region}:{account}:log-group:{name}:*",
        )],
    ),
    row(
        "AWS::StepFunctions::StateMachine",
        "StateMachineName",
        Some(SFN_ARN),
        &[("Arn", SFN_ARN), ("Name", "{name}")],
    ),
    row(
        "AWS::Serverless::StateMachine",
        "Name",
        Some(SFN_ARN),
        &[("Arn", SFN_ARN), ("Name", "{name}")],
    ),
    row(
        "AWS::Timestream::Database",
        "DatabaseName",
        Some("{name}"),
        &[(
            "Arn",
            "arn:{partition}:timestream:{region}:{account}:database/{name}",
        )],
    ),
    // Ref of a table is not its bare name; GetAtt Name is.
    row(
        "AWS::Timestream::Table",
        "TableName",
        None,
        &[("Name", "{name}")],
    ),
    row(
        "AWS::CloudWatch::Alarm",
        "AlarmName",
        Some("{name}"),
        &[(
            "Arn",
            "arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}",
        )],
    ),
    row(
        "AWS::IoT::TopicRule",
        "RuleName",
        Some("{name}"),
        &[("Arn", "arn:{partition}:iot:{region}:{account}:rule/{name}")],
    ),
    row(
        "AWS::OpenSearchService::Domain",
        "DomainName",
        Some("{name}"),
        &[("Arn", "arn:{partition}:es:{region}:{account}:domain/{name}")],
    ),
];

/// The row for `type_name`, if rulewire knows it.
pub fn lookup(type_name: &str) -> Option<&'static ResourceType> {
    RESOURCE_TYPES.iter().find(|r| r.type_name == type_name)
}
