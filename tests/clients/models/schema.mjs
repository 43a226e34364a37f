// The model schema Amplify codegen emits (src/models/schema.js) for the recipe's model,
//   type User @model @auth(rules: [{ allow: owner, ownerField: "id" }]) { id: ID! name: String age: Int }
// in codegen's format (fields, syncable, pluralName, the model and auth attributes with the
// owner rule's identityClaim "cognito:username", primaryKeyInfo). DataStore reads the owner
// value for its subscriptions' $id from the ID token's cognito:username (@aws-amplify/datastore
// sync/processors/subscription): in userpipe's pool that is the sub, the item's id.
export const schema = {
  models: {
    User: {
      name: 'User',
      fields: {
        id: { name: 'id', isArray: false, type: 'ID', isRequired: true, attributes: [] },
        name: { name: 'name', isArray: false, type: 'String', isRequired: false, attributes: [] },
        age: { name: 'age', isArray: false, type: 'Int', isRequired: false, attributes: [] },
        createdAt: {
          name: 'createdAt', isArray: false, type: 'AWSDateTime', isRequired: false,
          attributes: [], isReadOnly: true,
        },
        updatedAt: {
          name: 'updatedAt', isArray: false, type: 'AWSDateTime', isRequired: false,
          attributes: [], isReadOnly: true,
        },
      },
      syncable: true,
      pluralName: 'Users',
      attributes: [
        { type: 'model', properties: {} },
        {
          type: 'auth',
          properties: {
            rules: [
              {
                provider: 'userPools',
                ownerField: 'id',
                allow: 'owner',
                identityClaim: 'cognito:username',
                operations: ['create', 'update', 'delete', 'read'],
              },
            ],
          },
        },
      ],
      primaryKeyInfo: { isCustomPrimaryKey: false, primaryKeyFieldName: 'id', sortKeyFieldNames: [] },
    },
  },
  enums: {},
  nonModels: {},
  codegenVersion: '3.4.4',
  version: 'd2a5f1c0b8a34e0c9f7e6b5a4c3d2e1f',
};
