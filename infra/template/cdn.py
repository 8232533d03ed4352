"""Publishing: a private bucket and the CloudFront distribution that serves it."""

from __future__ import annotations

from typing import Any

from infra.template.names import DISTRIBUTION, PUBLISH_BUCKET, RETAINED
from infra.template.stage import Stage


def bucket_resources(stage: Stage) -> dict[str, Any]:
    """The publishing bucket (private, encrypted, owned by the account) and the CDN that serves it.

    CloudFront reads the bucket through origin access control: the bucket policy lets the distribution
    (by its ARN) read objects and nothing else in; the bucket stays closed to the public.
    """
    objects = {"Fn::Sub": "${" + PUBLISH_BUCKET + ".Arn}/*"}
    distribution_arn = "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${" + DISTRIBUTION + "}"
    return {
        PUBLISH_BUCKET: {
            "Type": "AWS::S3::Bucket",
            **RETAINED,
            "Properties": {
                # Bucket names are global: the account and region keep two stacks of one stage apart.
                "BucketName": {"Fn::Sub": f"keyport-{stage.name}-publish-${{AWS::AccountId}}-${{AWS::Region}}"},
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            },
        },
        "PublishBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": PUBLISH_BUCKET},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DistributionReadsObjects",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudfront.amazonaws.com"},
                            "Action": "s3:GetObject",
                            "Resource": objects,
                            "Condition": {"StringEquals": {"AWS:SourceArn": {"Fn::Sub": distribution_arn}}},
                        },
                        {
                            "Sid": "TransportEncryptedOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [{"Fn::GetAtt": [PUBLISH_BUCKET, "Arn"]}, objects],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ],
                },
            },
        },
        "PublishOriginAccessControl": {
            "Type": "AWS::CloudFront::OriginAccessControl",
            "Properties": {
                "OriginAccessControlConfig": {
                    "Name": {"Fn::Sub": "${AWS::StackName}-publish"},
                    "Description": f"Keyport {stage.name}: CloudFront reads the publishing bucket",
                    "OriginAccessControlOriginType": "s3",
                    "SigningBehavior": "always",
                    "SigningProtocol": "sigv4",
                }
            },
        },
        "PublishIndexFunction": {
            "Type": "AWS::CloudFront::Function",
            "Properties": {
                "Name": {"Fn::Sub": "${AWS::StackName}-publish-index"},
                "AutoPublish": True,
                "FunctionConfig": {"Comment": "Serve DIR/index.html for DIR/", "Runtime": "cloudfront-js-2.0"},
                "FunctionCode": INDEX_FUNCTION,
            },
        },
        DISTRIBUTION: {
            "Type": "AWS::CloudFront::Distribution",
            "Properties": {
                "DistributionConfig": {
                    "Comment": f"Keyport {stage.name}: previews and published sites",
                    "Enabled": True,
                    "HttpVersion": "http2and3",
                    "IPV6Enabled": True,
                    "PriceClass": "PriceClass_100",
                    "Origins": [
                        {
                            "Id": "publish-bucket",
                            "DomainName": {"Fn::GetAtt": [PUBLISH_BUCKET, "RegionalDomainName"]},
                            "OriginAccessControlId": {"Fn::GetAtt": ["PublishOriginAccessControl", "Id"]},
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                        }
                    ],
                    "DefaultCacheBehavior": {
                        "TargetOriginId": "publish-bucket",
                        "ViewerProtocolPolicy": "redirect-to-https",
                        "AllowedMethods": ["GET", "HEAD"],
                        "Compress": True,
                        # Managed: CachingOptimized (honours the objects' Cache-Control), SecurityHeadersPolicy.
                        "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
                        "ResponseHeadersPolicyId": "67f7725c-6f97-4210-82d7-5512b31e9d03",
                        "FunctionAssociations": [
                            {
                                "EventType": "viewer-request",
                                "FunctionARN": {"Fn::GetAtt": ["PublishIndexFunction", "FunctionARN"]},
                            }
                        ],
                    },
                    "ViewerCertificate": {"CloudFrontDefaultCertificate": True},
                }
            },
        },
    }


# Site URLs end in "/" (builds.target_url); S3 has no directory index, so the edge adds it.
INDEX_FUNCTION = """function handler(event) {
  var request = event.request;
  if (request.uri.endsWith('/')) {
    request.uri += 'index.html';
  } else if (!request.uri.split('/').pop().includes('.')) {
    request.uri += '/index.html';
  }
  return request;
}
"""
