//! The kinds of difference between two JSON Schemas, named as Confluent names them.

use std::fmt;
use std::str::FromStr;

use crate::SchemaCompatError;

macro_rules! kinds {
    ($( $variant:ident = $name:literal, $compatible:literal, $doc:literal; )*) => {
        /// A kind of difference between a writer schema (the original) and a reader schema
        /// (the update).
        ///
        /// The names and the compatible subset follow Confluent Schema Registry's
        /// `io.confluent.kafka.schemaregistry.json.diff.Difference.Type` and
        /// `SchemaDiff.COMPATIBLE_CHANGES`. `Display` and `FromStr` use the upper snake case
        /// names, for example `TYPE_CHANGED`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum DifferenceKind {
            $(
                #[doc = $doc]
                $variant,
            )*
        }

        impl DifferenceKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [DifferenceKind] = &[$(DifferenceKind::$variant,)*];

            /// Confluent's name for this kind, for example `TYPE_CHANGED`.
            pub fn name(self) -> &'static str {
                match self {
                    $(DifferenceKind::$variant => $name,)*
                }
            }

            /// Whether a reader can still read what the writer wrote after this change, that is
            /// whether the kind is in Confluent's `COMPATIBLE_CHANGES`.
            pub fn is_compatible(self) -> bool {
                match self {
                    $(DifferenceKind::$variant => $compatible,)*
                }
            }

            /// A sentence that explains the change, in terms of the writer and reader schemas.
            pub fn description(self) -> &'static str {
                match self {
                    $(DifferenceKind::$variant => $doc,)*
                }
            }
        }
    };
}

kinds! {
    IdChanged = "ID_CHANGED", true, "The `$id` differs between the writer and reader schemas.";
    DescriptionChanged = "DESCRIPTION_CHANGED", true, "The `description` differs between the writer and reader schemas.";
    TitleChanged = "TITLE_CHANGED", true, "The `title` differs between the writer and reader schemas.";
    DefaultChanged = "DEFAULT_CHANGED", true, "The `default` value differs between the writer and reader schemas.";
    SchemaAdded = "SCHEMA_ADDED", false, "The reader schema has a subschema that the writer schema lacks.";
    SchemaRemoved = "SCHEMA_REMOVED", true, "The reader schema lacks a subschema that the writer schema has.";
    TypeExtended = "TYPE_EXTENDED", true, "The reader schema accepts a wider type (`number` where the writer has `integer`).";
    TypeNarrowed = "TYPE_NARROWED", false, "The reader schema accepts a narrower type (`integer` where the writer has `number`).";
    TypeChanged = "TYPE_CHANGED", false, "The reader schema has a different type than the writer schema.";

    MaxLengthAdded = "MAX_LENGTH_ADDED", false, "The reader schema adds a `maxLength` that strings from the writer may exceed.";
    MaxLengthRemoved = "MAX_LENGTH_REMOVED", true, "The reader schema removes the writer's `maxLength`.";
    MaxLengthIncreased = "MAX_LENGTH_INCREASED", true, "The reader schema raises `maxLength`.";
    MaxLengthDecreased = "MAX_LENGTH_DECREASED", false, "The reader schema lowers `maxLength`, so strings from the writer may be too long.";
    MinLengthAdded = "MIN_LENGTH_ADDED", false, "The reader schema adds a `minLength` that strings from the writer may not reach.";
    MinLengthRemoved = "MIN_LENGTH_REMOVED", true, "The reader schema removes the writer's `minLength`.";
    MinLengthIncreased = "MIN_LENGTH_INCREASED", false, "The reader schema raises `minLength`, so strings from the writer may be too short.";
    MinLengthDecreased = "MIN_LENGTH_DECREASED", true, "The reader schema lowers `minLength`.";
    PatternAdded = "PATTERN_ADDED", false, "The reader schema adds a `pattern` that strings from the writer may not match.";
    PatternRemoved = "PATTERN_REMOVED", true, "The reader schema removes the writer's `pattern`.";
    PatternChanged = "PATTERN_CHANGED", false, "The reader schema has a different `pattern` than the writer schema.";

    MaximumAdded = "MAXIMUM_ADDED", false, "The reader schema adds a `maximum` that numbers from the writer may exceed.";
    MaximumRemoved = "MAXIMUM_REMOVED", true, "The reader schema removes the writer's `maximum`.";
    MaximumIncreased = "MAXIMUM_INCREASED", true, "The reader schema raises `maximum`.";
    MaximumDecreased = "MAXIMUM_DECREASED", false, "The reader schema lowers `maximum`, so numbers from the writer may be too large.";
    MinimumAdded = "MINIMUM_ADDED", false, "The reader schema adds a `minimum` that numbers from the writer may be below.";
    MinimumRemoved = "MINIMUM_REMOVED", true, "The reader schema removes the writer's `minimum`.";
    MinimumIncreased = "MINIMUM_INCREASED", false, "The reader schema raises `minimum`, so numbers from the writer may be too small.";
    MinimumDecreased = "MINIMUM_DECREASED", true, "The reader schema lowers `minimum`.";
    ExclusiveMaximumAdded = "EXCLUSIVE_MAXIMUM_ADDED", false, "The reader schema adds an `exclusiveMaximum` that numbers from the writer may reach.";
    ExclusiveMaximumRemoved = "EXCLUSIVE_MAXIMUM_REMOVED", true, "The reader schema removes the writer's `exclusiveMaximum`.";
    ExclusiveMaximumIncreased = "EXCLUSIVE_MAXIMUM_INCREASED", true, "The reader schema raises `exclusiveMaximum`.";
    ExclusiveMaximumDecreased = "EXCLUSIVE_MAXIMUM_DECREASED", false, "The reader schema lowers `exclusiveMaximum`, so numbers from the writer may be too large.";
    ExclusiveMinimumAdded = "EXCLUSIVE_MINIMUM_ADDED", false, "The reader schema adds an `exclusiveMinimum` that numbers from the writer may reach.";
    ExclusiveMinimumRemoved = "EXCLUSIVE_MINIMUM_REMOVED", true, "The reader schema removes the writer's `exclusiveMinimum`.";
    ExclusiveMinimumIncreased = "EXCLUSIVE_MINIMUM_INCREASED", false, "The reader schema raises `exclusiveMinimum`, so numbers from the writer may be too small.";
    ExclusiveMinimumDecreased = "EXCLUSIVE_MINIMUM_DECREASED", true, "The reader schema lowers `exclusiveMinimum`.";
    MultipleOfAdded = "MULTIPLE_OF_ADDED", false, "The reader schema adds a `multipleOf` that numbers from the writer may not satisfy.";
    MultipleOfRemoved = "MULTIPLE_OF_REMOVED", true, "The reader schema removes the writer's `multipleOf`.";
    MultipleOfExpanded = "MULTIPLE_OF_EXPANDED", false, "The reader's `multipleOf` is a multiple of the writer's, so some numbers from the writer are rejected.";
    MultipleOfReduced = "MULTIPLE_OF_REDUCED", true, "The reader's `multipleOf` divides the writer's.";
    MultipleOfChanged = "MULTIPLE_OF_CHANGED", false, "The reader's `multipleOf` neither divides nor is a multiple of the writer's.";

    RequiredAttributeAdded = "REQUIRED_ATTRIBUTE_ADDED", false, "The reader schema requires a property, without a default, that the writer schema leaves optional.";
    RequiredAttributeWithDefaultAdded = "REQUIRED_ATTRIBUTE_WITH_DEFAULT_ADDED", true, "The reader schema requires a property that the writer leaves optional, and gives it a default.";
    RequiredAttributeRemoved = "REQUIRED_ATTRIBUTE_REMOVED", true, "The reader schema no longer requires a property that the writer requires.";
    MaxPropertiesAdded = "MAX_PROPERTIES_ADDED", false, "The reader schema adds a `maxProperties` that objects from the writer may exceed.";
    MaxPropertiesRemoved = "MAX_PROPERTIES_REMOVED", true, "The reader schema removes the writer's `maxProperties`.";
    MaxPropertiesIncreased = "MAX_PROPERTIES_INCREASED", true, "The reader schema raises `maxProperties`.";
    MaxPropertiesDecreased = "MAX_PROPERTIES_DECREASED", false, "The reader schema lowers `maxProperties`, so objects from the writer may have too many properties.";
    MinPropertiesAdded = "MIN_PROPERTIES_ADDED", false, "The reader schema adds a `minProperties` that objects from the writer may not reach.";
    MinPropertiesRemoved = "MIN_PROPERTIES_REMOVED", true, "The reader schema removes the writer's `minProperties`.";
    MinPropertiesIncreased = "MIN_PROPERTIES_INCREASED", false, "The reader schema raises `minProperties`, so objects from the writer may have too few properties.";
    MinPropertiesDecreased = "MIN_PROPERTIES_DECREASED", true, "The reader schema lowers `minProperties`.";
    AdditionalPropertiesAdded = "ADDITIONAL_PROPERTIES_ADDED", true, "The reader schema allows additional properties that the writer schema forbids.";
    AdditionalPropertiesRemoved = "ADDITIONAL_PROPERTIES_REMOVED", false, "The reader schema forbids additional properties that the writer schema allows.";
    AdditionalPropertiesExtended = "ADDITIONAL_PROPERTIES_EXTENDED", true, "The reader schema drops the writer's schema for additional properties and accepts any.";
    AdditionalPropertiesNarrowed = "ADDITIONAL_PROPERTIES_NARROWED", false, "The reader schema constrains additional properties that the writer leaves unconstrained.";
    DependencyArrayAdded = "DEPENDENCY_ARRAY_ADDED", false, "The reader schema adds a property dependency that objects from the writer may violate.";
    DependencyArrayRemoved = "DEPENDENCY_ARRAY_REMOVED", true, "The reader schema removes a property dependency.";
    DependencyArrayExtended = "DEPENDENCY_ARRAY_EXTENDED", false, "The reader schema makes a property depend on more properties than the writer does.";
    DependencyArrayNarrowed = "DEPENDENCY_ARRAY_NARROWED", true, "The reader schema makes a property depend on fewer properties than the writer does.";
    DependencyArrayChanged = "DEPENDENCY_ARRAY_CHANGED", false, "The reader schema makes a property depend on different properties than the writer does.";
    DependencySchemaAdded = "DEPENDENCY_SCHEMA_ADDED", false, "The reader schema adds a schema dependency that objects from the writer may violate.";
    DependencySchemaRemoved = "DEPENDENCY_SCHEMA_REMOVED", true, "The reader schema removes a schema dependency.";
    PropertyAddedToOpenContentModel = "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL", false, "The reader schema adds a property that the writer's open content model may already carry with any value.";
    PropertyWithEmptySchemaAddedToOpenContentModel = "PROPERTY_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", true, "The reader schema adds a property that accepts any value to the writer's open content model.";
    RequiredPropertyAddedToUnopenContentModel = "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", false, "The reader schema adds a required property without a default, which data from the writer's closed content model lacks.";
    RequiredPropertyWithDefaultAddedToUnopenContentModel = "REQUIRED_PROPERTY_WITH_DEFAULT_ADDED_TO_UNOPEN_CONTENT_MODEL", true, "The reader schema adds a required property with a default to the writer's closed content model.";
    OptionalPropertyAddedToUnopenContentModel = "OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL", true, "The reader schema adds an optional property to the writer's closed content model.";
    PropertyRemovedFromOpenContentModel = "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL", true, "The reader schema removes a property, and its open content model still accepts it.";
    PropertyWithFalseRemovedFromClosedContentModel = "PROPERTY_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", true, "The reader schema removes a property that the writer forbade (`false`).";
    PropertyRemovedFromClosedContentModel = "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL", false, "The reader schema removes a property that the writer has, and its closed content model rejects it.";
    PropertyRemovedIsCoveredByPartiallyOpenContentModel = "PROPERTY_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", true, "The reader schema removes a property, and its `additionalProperties` schema still accepts the writer's values.";
    PropertyRemovedNotCoveredByPartiallyOpenContentModel = "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", false, "The reader schema removes a property, and its `additionalProperties` schema rejects the writer's values.";
    PropertyAddedIsCoveredByPartiallyOpenContentModel = "PROPERTY_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", true, "The reader schema adds a property that accepts every value the writer's `additionalProperties` schema allows.";
    PropertyAddedNotCoveredByPartiallyOpenContentModel = "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", false, "The reader schema adds a property that rejects values the writer's `additionalProperties` schema allows.";
    UnevaluatedPropertiesAdded = "UNEVALUATED_PROPERTIES_ADDED", true, "The reader schema allows unevaluated properties that the writer schema forbids.";
    UnevaluatedPropertiesRemoved = "UNEVALUATED_PROPERTIES_REMOVED", false, "The reader schema forbids unevaluated properties that the writer schema allows.";
    UnevaluatedPropertiesExtended = "UNEVALUATED_PROPERTIES_EXTENDED", true, "The reader schema drops the writer's schema for unevaluated properties and accepts any.";
    UnevaluatedPropertiesNarrowed = "UNEVALUATED_PROPERTIES_NARROWED", false, "The reader schema constrains unevaluated properties that the writer leaves unconstrained.";

    MaxItemsAdded = "MAX_ITEMS_ADDED", false, "The reader schema adds a `maxItems` that arrays from the writer may exceed.";
    MaxItemsRemoved = "MAX_ITEMS_REMOVED", true, "The reader schema removes the writer's `maxItems`.";
    MaxItemsIncreased = "MAX_ITEMS_INCREASED", true, "The reader schema raises `maxItems`.";
    MaxItemsDecreased = "MAX_ITEMS_DECREASED", false, "The reader schema lowers `maxItems`, so arrays from the writer may be too long.";
    MinItemsAdded = "MIN_ITEMS_ADDED", false, "The reader schema adds a `minItems` that arrays from the writer may not reach.";
    MinItemsRemoved = "MIN_ITEMS_REMOVED", true, "The reader schema removes the writer's `minItems`.";
    MinItemsIncreased = "MIN_ITEMS_INCREASED", false, "The reader schema raises `minItems`, so arrays from the writer may be too short.";
    MinItemsDecreased = "MIN_ITEMS_DECREASED", true, "The reader schema lowers `minItems`.";
    MaxContainsAdded = "MAX_CONTAINS_ADDED", false, "The reader schema adds a `maxContains` that arrays from the writer may exceed.";
    MaxContainsRemoved = "MAX_CONTAINS_REMOVED", true, "The reader schema removes the writer's `maxContains`.";
    MaxContainsIncreased = "MAX_CONTAINS_INCREASED", true, "The reader schema raises `maxContains`.";
    MaxContainsDecreased = "MAX_CONTAINS_DECREASED", false, "The reader schema lowers `maxContains`, so arrays from the writer may contain too many matching items.";
    MinContainsAdded = "MIN_CONTAINS_ADDED", false, "The reader schema adds a `minContains` (or a `contains`, which requires one matching item) that arrays from the writer may not reach.";
    MinContainsRemoved = "MIN_CONTAINS_REMOVED", true, "The reader schema removes the writer's `minContains` (or `contains`).";
    MinContainsIncreased = "MIN_CONTAINS_INCREASED", false, "The reader schema raises `minContains`, so arrays from the writer may contain too few matching items.";
    MinContainsDecreased = "MIN_CONTAINS_DECREASED", true, "The reader schema lowers `minContains`.";
    UniqueItemsAdded = "UNIQUE_ITEMS_ADDED", false, "The reader schema requires unique items, and arrays from the writer may repeat items.";
    UniqueItemsRemoved = "UNIQUE_ITEMS_REMOVED", true, "The reader schema no longer requires unique items.";
    AdditionalItemsAdded = "ADDITIONAL_ITEMS_ADDED", true, "The reader schema allows additional items that the writer schema forbids.";
    AdditionalItemsRemoved = "ADDITIONAL_ITEMS_REMOVED", false, "The reader schema forbids additional items that the writer schema allows.";
    AdditionalItemsExtended = "ADDITIONAL_ITEMS_EXTENDED", true, "The reader schema drops the writer's schema for additional items and accepts any.";
    AdditionalItemsNarrowed = "ADDITIONAL_ITEMS_NARROWED", false, "The reader schema constrains additional items that the writer leaves unconstrained.";
    UnevaluatedItemsAdded = "UNEVALUATED_ITEMS_ADDED", true, "The reader schema allows unevaluated items that the writer schema forbids.";
    UnevaluatedItemsRemoved = "UNEVALUATED_ITEMS_REMOVED", false, "The reader schema forbids unevaluated items that the writer schema allows.";
    UnevaluatedItemsExtended = "UNEVALUATED_ITEMS_EXTENDED", true, "The reader schema drops the writer's schema for unevaluated items and accepts any.";
    UnevaluatedItemsNarrowed = "UNEVALUATED_ITEMS_NARROWED", false, "The reader schema constrains unevaluated items that the writer leaves unconstrained.";
    ItemAddedToOpenContentModel = "ITEM_ADDED_TO_OPEN_CONTENT_MODEL", false, "The reader schema adds a tuple item that the writer's open content model may already carry with any value.";
    ItemWithEmptySchemaAddedToOpenContentModel = "ITEM_WITH_EMPTY_SCHEMA_ADDED_TO_OPEN_CONTENT_MODEL", true, "The reader schema adds a tuple item that accepts any value.";
    ItemAddedToClosedContentModel = "ITEM_ADDED_TO_CLOSED_CONTENT_MODEL", true, "The reader schema adds a tuple item to the writer's closed content model.";
    ItemRemovedFromOpenContentModel = "ITEM_REMOVED_FROM_OPEN_CONTENT_MODEL", true, "The reader schema removes a tuple item, and its open content model still accepts it.";
    ItemWithFalseRemovedFromClosedContentModel = "ITEM_WITH_FALSE_REMOVED_FROM_CLOSED_CONTENT_MODEL", true, "The reader schema removes a tuple item that the writer forbade (`false`).";
    ItemRemovedFromClosedContentModel = "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL", false, "The reader schema removes a tuple item that the writer has, and its closed content model rejects it.";
    ItemRemovedIsCoveredByPartiallyOpenContentModel = "ITEM_REMOVED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", true, "The reader schema removes a tuple item, and its `additionalItems` schema still accepts the writer's values.";
    ItemRemovedNotCoveredByPartiallyOpenContentModel = "ITEM_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", false, "The reader schema removes a tuple item, and its `additionalItems` schema rejects the writer's values.";
    ItemAddedIsCoveredByPartiallyOpenContentModel = "ITEM_ADDED_IS_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", true, "The reader schema adds a tuple item that accepts every value the writer's `additionalItems` schema allows.";
    ItemAddedNotCoveredByPartiallyOpenContentModel = "ITEM_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL", false, "The reader schema adds a tuple item that rejects values the writer's `additionalItems` schema allows.";

    EnumArrayExtended = "ENUM_ARRAY_EXTENDED", true, "The reader schema's `enum` has every value of the writer's and more.";
    EnumArrayNarrowed = "ENUM_ARRAY_NARROWED", false, "The reader schema's `enum` lacks values that the writer's has.";
    EnumArrayChanged = "ENUM_ARRAY_CHANGED", false, "The reader schema's `enum` differs from the writer's in both directions.";

    CombinedTypeExtended = "COMBINED_TYPE_EXTENDED", true, "The reader schema uses a more permissive combinator (for example `anyOf` where the writer has `oneOf`).";
    CombinedTypeChanged = "COMBINED_TYPE_CHANGED", false, "The reader schema uses an incompatible combinator (for example `allOf` where the writer has `anyOf`).";
    ProductTypeExtended = "PRODUCT_TYPE_EXTENDED", false, "The reader's `allOf` has more subschemas than the writer's.";
    ProductTypeNarrowed = "PRODUCT_TYPE_NARROWED", true, "The reader's `allOf` has fewer subschemas than the writer's.";
    SumTypeExtended = "SUM_TYPE_EXTENDED", true, "The reader's `oneOf`/`anyOf` has more alternatives than the writer's.";
    SumTypeNarrowed = "SUM_TYPE_NARROWED", false, "The reader's `oneOf`/`anyOf` has fewer alternatives than the writer's.";
    CombinedTypeSubschemasChanged = "COMBINED_TYPE_SUBSCHEMAS_CHANGED", false, "The subschemas of a combined schema cannot be paired compatibly between the writer and reader.";
    NotTypeExtended = "NOT_TYPE_EXTENDED", false, "The reader's `not` excludes values that the writer's `not` allows.";
    NotTypeNarrowed = "NOT_TYPE_NARROWED", true, "The reader's `not` excludes fewer values than the writer's `not`.";
}

impl fmt::Display for DifferenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DifferenceKind {
    type Err = SchemaCompatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DifferenceKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| SchemaCompatError::UnknownDifferenceKind { value: s.to_owned() })
    }
}
